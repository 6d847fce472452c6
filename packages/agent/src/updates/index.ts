/** Signed releases on the host (issue 14): TUF verification online and from offline bundles. */
export { ReleaseVerifier, serverSource, offlineSource, type ReleaseSource, type VerifiedRelease } from './release-verifier.js';
export { FileFetcher, folderLookup, mapLookup, OFFLINE_BASE, type FileLookup } from './file-fetcher.js';
export { PinnedFetcher } from './pinned-fetcher.js';
export { BUNDLE_MANIFEST, readBundle, writeBundle, type BundleManifest, type BundleParts } from './offline-bundle.js';
export { readTar, writeTar, type TarEntry, type TarLimits } from './ustar.js';
export { sideload, RELEASES_DIR, type SideloadOptions } from './sideload-command.js';
