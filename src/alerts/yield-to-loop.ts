export { yieldToLoop } from '../core/yield-to-loop.js';
