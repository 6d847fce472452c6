/** Host bundles (issue 14): a pinned desired state for a host, applied, watched for drift and rolled back. */
export { createBundleInstaller, type BundleInstaller, type BundleInstallerOptions } from './bundle-installer.js';
export { parseBundleFile, BUNDLE_FILE_MAX_BYTES } from './bundle-file.js';
export { readBundleArchive, writeBundleArchive, sourcesOf, type BundleArchive } from './bundle-archive.js';
export { BUNDLE_LABEL, BUNDLE_VERSION_LABEL, BUNDLE_CONTAINER_LABEL } from './bundle-engine.js';
export { execCommandRunner, type HostCommandRunner, type HostCommandResult } from './command-runner.js';
