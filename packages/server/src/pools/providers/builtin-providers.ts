import type { ProviderSpec } from '@gpufleet/protocol';
import { createAwsProvider } from './aws-provider.js';
import { ProviderError, type ProviderFactories } from './cloud-provider.js';
import { createLambdaProvider } from './lambda-provider.js';
import { createSshProvider } from './ssh-provider.js';

/** Narrows the spec a factory is handed (the pools file routes each spec to the factory of its type). */
function ofType<T extends ProviderSpec['type']>(spec: ProviderSpec, type: T): Extract<ProviderSpec, { type: T }> {
  if (spec.type !== type) throw new ProviderError('invalid', `a ${spec.type} provider spec was given to the ${type} factory`);
  return spec as Extract<ProviderSpec, { type: T }>;
}

/**
 * The provider adapters the server knows (refs.providerFactories). `sim` lives in the sim
 * package and is added by whoever composes a simulated fleet.
 */
export const builtinProviderFactories: ProviderFactories = {
  aws: (spec, ctx) => createAwsProvider(ofType(spec, 'aws'), ctx),
  lambda: (spec, ctx) => createLambdaProvider(ofType(spec, 'lambda'), ctx),
  ssh: (spec, ctx) => createSshProvider(ofType(spec, 'ssh'), ctx),
};
