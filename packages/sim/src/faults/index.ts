/** Fault injection for simulated hosts: kernel lines, reading faults, tool failures, crashes and link cuts. */
export { FaultInjector, type FaultInjectorOptions, type FaultTarget, type InjectionRecord } from './fault-injector.js';
export { FaultSpec, FAULT_KINDS, GPU_FAULTS, SimDuration, faultHost, isAllocRef, parseSimDuration, type FaultInput, type FaultKind } from './fault-spec.js';
export {
  KERNEL_TIME_STYLES,
  kernelTimePrefix,
  xidText,
  sxidText,
  xidMessage,
  xidPciForm,
  fallenOffBusLines,
  type KernelTime,
  type KernelTimeStyle,
  type SxidLineSpec,
  type XidLineSpec,
} from './kernel-lines.js';
export { LinkProxy } from './link-proxy.js';
export { NVIDIA_TOOL_FAILURES, NVIDIA_TOOL_FAILURE_KINDS, isNvidiaToolFailure, toolFailureMessage, type NvidiaToolFailure } from './tool-messages.js';
export { RandomFaults, type RandomFaultsOptions } from './random-faults.js';
