import { Empty } from '../components/states.js';

/** Placeholder while this page is being built. */
export function SigningKeyPage() {
  return <Empty>Signing key: coming in this change.</Empty>;
}
