export { freePort } from '../../../packages/server/src/testing/free-port.js';
