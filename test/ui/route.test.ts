import { describe, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import { uiRouter } from '../../src/ui/route.js';

const app = express().use('/ui', uiRouter());

describe('the /ui/ files', () => {
  it('serves the page, its script and its style with their types and a strict content security policy', async () => {
    const page = await request(app).get('/ui/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'/);
    expect(page.text).toContain('<script type="module" src="app.js"></script>');
    const script = await request(app).get('/ui/app.js');
    expect([script.status, script.headers['content-type']]).toEqual([200, 'text/javascript; charset=utf-8']);
    const style = await request(app).get('/ui/style.css');
    expect([style.status, style.headers['content-type']]).toEqual([200, 'text/css; charset=utf-8']);
  });

  it('redirects /ui to /ui/ so the page finds its relative files', async () => {
    const res = await request(app).get('/ui');
    expect([res.status, res.headers['location']]).toEqual([301, '/ui/']);
  });

  it('the script never writes markup: no innerHTML, outerHTML, insertAdjacentHTML or document.write', async () => {
    const script = (await request(app).get('/ui/app.js')).text;
    expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });
});

describe('the page\'s own files', () => {
  it('serves its favicon and script modules from /ui/, and the page links the favicon (no external request)', async () => {
    const page = (await request(app).get('/ui/')).text;
    expect(page).toContain('<link rel="icon" href="favicon.svg" type="image/svg+xml">');
    const icon = await request(app).get('/ui/favicon.svg');
    expect([icon.status, icon.headers['content-type']]).toEqual([200, 'image/svg+xml']);
    expect(icon.body.toString()).toMatch(/^<svg /);
    for (const name of ['cards.js', 'chart.js', 'util.js']) {
      const res = await request(app).get(`/ui/${name}`);
      expect([name, res.status, res.headers['content-type']]).toEqual([name, 200, 'text/javascript; charset=utf-8']);
      expect(res.text).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    }
    // Nothing the page loads comes from elsewhere.
    expect(page).not.toMatch(/(src|href)="(https?:)?\/\//);
  });
});
