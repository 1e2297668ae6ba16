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
