/** Container operations on the host, against the Docker Engine API (Podman's compatible API works the same). */
export { runContainerOp, type ContainerCommandSpec, type ContainerListLine, type ContainerOpIo, type ContainerOpOptions } from './run-container-op.js';
export {
  EngineClient,
  containerRef,
  sinceParam,
  type ActionOptions,
  type ActionResult,
  type ContainerDetails,
  type ContainerSummary,
  type EngineClientOptions,
  type LogsOptions,
} from './engine-client.js';
export {
  MuxFrameDecoder,
  RawStreamDecoder,
  LineSplitter,
  createLogDecoder,
  MAX_FRAME_BYTES,
  MAX_LINE_CHARS,
  type LogDecoder,
  type LogFrame,
  type LogLine,
  type LogStream,
} from './log-frames.js';
