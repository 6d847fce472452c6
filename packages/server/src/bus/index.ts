/** The bus between control-plane replicas (issue 13); not wired into the server yet. */
export * from './bus.js';
export { InProcessBroker, type InProcessBrokerOptions, InProcessBus, type InProcessBusOptions } from './in-process-bus.js';
export { NatsBus, type NatsBusOptions } from './nats-bus.js';
export { buckets, consumers, idToken, kvKeys, nodeIdOf, subjects, tokenId } from './subjects.js';
