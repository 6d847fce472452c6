import { Empty } from '../components/states.js';

/** Placeholder while this page is being built. */
export function ApiTokensPage() {
  return <Empty>API tokens: coming in this change.</Empty>;
}
