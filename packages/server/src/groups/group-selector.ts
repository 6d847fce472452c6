import { FleetError, matchesRequirement, parseSelector, type Labels, type Requirement } from '@gpufleet/protocol';

/** The selector key that means group membership in a play's selector. */
export const GROUP_KEY = 'group';

/** A selector split into its group-membership terms and its label terms. */
export interface GroupAwareSelector {
  groupTerms: Requirement[];
  labelTerms: Requirement[];
}

/** Parses the CLI's selector syntax; garbage is invalid_argument naming the problem. */
export function parseGroupAwareSelector(source: string): GroupAwareSelector {
  const { requirements } = parseSelector(source);
  return {
    groupTerms: requirements.filter((r) => r.key === GROUP_KEY),
    labelTerms: requirements.filter((r) => r.key !== GROUP_KEY),
  };
}

/** A group's own selector: label terms only (a group defined by other groups would be a cycle waiting to happen). */
export function parseGroupSelector(source: string): string {
  let parsed: GroupAwareSelector;
  try {
    parsed = parseGroupAwareSelector(source);
  } catch (err) {
    throw new FleetError('invalid_argument', `selector: ${(err as Error).message}`);
  }
  if (parsed.groupTerms.length > 0) throw new FleetError('invalid_argument', `selector: a group's selector matches labels only, not '${GROUP_KEY}'`);
  if (parsed.labelTerms.length === 0)
    throw new FleetError('invalid_argument', 'selector: empty; it would match every node (list members instead, or give a label term)');
  return source.trim();
}

/**
 * Whether a term on `group` holds for a node in these groups: `group=a` member of a, `group!=a` not,
 * `group in (a,b)` of any, `group notin (a,b)` of none, `group` of some group, `!group` of none.
 */
export function matchesGroupTerm(term: Requirement, groups: ReadonlySet<string>): boolean {
  switch (term.op) {
    case 'eq':
      return groups.has(term.value);
    case 'neq':
      return !groups.has(term.value);
    case 'in':
      return term.values.some((g) => groups.has(g));
    case 'notin':
      return !term.values.some((g) => groups.has(g));
    case 'exists':
      return groups.size > 0;
    case 'notexists':
      return groups.size === 0;
  }
}

/** Every term holds: group terms against the node's groups, the rest against its labels as the registry matches them. */
export function matchesGroupAware(selector: GroupAwareSelector, groups: ReadonlySet<string>, labels: Labels): boolean {
  return selector.groupTerms.every((t) => matchesGroupTerm(t, groups)) && selector.labelTerms.every((t) => matchesRequirement(t, labels));
}
