/** The gateway's record of traffic per function lives with the engine, which the scalers read. */
export { InvocationLog } from '../engine/activity.js';
