import { Empty } from '../components/states.js';

/** Placeholder while this page is being built. */
export function NewRunPage() {
  return <Empty>New run: coming in this change.</Empty>;
}
