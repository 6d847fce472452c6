/** Signed releases on the host (issue 14): TUF verification online and offline, the update handler, the agent installer and its launcher. */
export { ReleaseVerifier, serverSource, offlineSource, type ReleaseSource, type VerifiedRelease } from './release-verifier.js';
export { FileFetcher, folderLookup, mapLookup, OFFLINE_BASE, type FileLookup } from './file-fetcher.js';
export { PinnedFetcher } from './pinned-fetcher.js';
export { BUNDLE_MANIFEST, readBundle, writeBundle, type BundleManifest, type BundleParts } from './offline-bundle.js';
export { readTar, writeTar, type TarEntry, type TarLimits } from './ustar.js';
export { sideload, sideloadCommand, RELEASES_DIR, type SideloadOptions } from './sideload-command.js';
export { keepSideloadReport, takeSideloadReports } from './sideload-reports.js';
export type { ReleaseInstaller, InstallOutcome } from './release-installer.js';
export { UpdateHandler, type UpdateHandlerOptions, type UpdateTrust, type ReleaseFetcher } from './update-handler.js';
export { createAgentUpdates, type UpdateOptions } from './agent-updates.js';
export type { UpdateFrameHandler, UpdateHandlerHost } from './update-frame-handler.js';
export { AgentInstaller, RESTART_EXIT_CODE, type AgentInstallerOptions } from './agent-installer.js';
export { InstallLayout, BUILTIN, type Slot } from './install-layout.js';
export { packAgentRelease, unpackAgentRelease, AGENT_ENTRY, AGENT_RELEASE_JSON, AGENT_RELEASE_FOLDER } from './agent-release.js';
export { AgentSelfCheck } from './agent-self-check.js';
export { readPendingUpdate, writePendingUpdate, clearPendingUpdate, pendingUpdatePath, PENDING_UPDATE_FILE, type PendingUpdate } from './pending-update.js';
export { runLauncher, INSTALL_DIR_ENV, type LauncherOptions } from './launcher.js';
