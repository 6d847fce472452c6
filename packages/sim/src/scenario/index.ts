/** Scenario files (YAML: fleet, timed faults, assertions) and their runner against a fresh server. */
export { loadScenario, parseScenario, describeAssertion, describeEvent, type PlannedAssertion, type PlannedEvent, type Scenario } from './scenario-file.js';
export {
  Assertion,
  AlertCondition,
  Condition,
  EventCondition,
  NodeCondition,
  ScenarioDoc,
  ScenarioEvent,
  RUNNER_OWNED_SERVER_KEYS,
} from './scenario-schema.js';
export { describeCondition, observe, type Observation } from './conditions.js';
export { inRange, poolCapacity, type PoolFacts } from './pool-conditions.js';
export { CountRange, PoolCondition, ScenarioPools } from './pool-schema.js';
export { ScenarioApi, replyError, type ApiReply } from './scenario-api.js';
export { runScenario, SCENARIO_SERVER_DEFAULTS, type AssertionResult, type EventResult, type RunScenarioOptions, type ScenarioResult } from './runner.js';
export { formatScenarioReport } from './report.js';
