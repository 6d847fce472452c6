// The pure label derivation lives in the protocol package so that agents compute exactly the
// same labels from their own facts (they check selectors in signed commands against them).
export { BUILTIN_LABEL_KEYS, builtinLabels, labelSafe, shortGpuModel } from '@gpufleet/protocol';
