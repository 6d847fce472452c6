import { emptyGpuSnapshot, normalizePciBusId, type GpuSnapshot, type MigDevice, type ThrottleReason } from '@gpufleet/protocol';
import { smiChild, smiChildren, smiFirst, smiValue, type SmiNode } from './smi-tree.js';
import {
  activeOf,
  bytesOf,
  celsiusOf,
  cleanValue,
  countOf,
  enabledOf,
  mhzOf,
  percentOf,
  sortReasons,
  sumKnown,
  throttleReasonOf,
  wattsOf,
  yesNoOf,
} from './smi-values.js';

/** Facts printed once for all GPUs, above the GPU sections. */
export interface SmiHostFacts {
  driverVersion: string | null;
  runtimeVersion: string | null;
}

type Paths = ReadonlyArray<readonly string[]>;

// Each fact's paths, XML spelling and text spelling (slugged), newer driver generations first.
const P = {
  uuid: [['uuid'], ['gpuuuid']],
  serial: [['serial'], ['serialnumber']],
  busId: [
    ['pci', 'pcibusid'],
    ['pci', 'busid'],
  ],
  powerLimit: [
    ['gpupowerreadings', 'currentpowerlimit'],
    ['powerreadings', 'currentpowerlimit'],
    ['gpupowerreadings', 'enforcedpowerlimit'],
    ['powerreadings', 'enforcedpowerlimit'],
    ['powerreadings', 'powerlimit'],
  ],
  // nvidia-smi's own power.draw is the averaged reading on drivers that have both; instant is a fallback.
  powerDraw: [
    ['gpupowerreadings', 'powerdraw'],
    ['gpupowerreadings', 'averagepowerdraw'],
    ['gpupowerreadings', 'instantpowerdraw'],
    ['gpupowerreadings', 'instantaneouspowerdraw'],
    ['powerreadings', 'powerdraw'],
    ['powerreadings', 'averagepowerdraw'],
    ['powerreadings', 'instantpowerdraw'],
    ['powerreadings', 'instantaneouspowerdraw'],
  ],
  temperature: [
    ['temperature', 'gputemp'],
    ['temperature', 'gpucurrenttemp'],
  ],
  memoryTemperature: [
    ['temperature', 'memorytemp'],
    ['temperature', 'memorycurrenttemp'],
  ],
  utilization: [
    ['utilization', 'gpuutil'],
    ['utilization', 'gpu'],
  ],
  memoryUtilization: [
    ['utilization', 'memoryutil'],
    ['utilization', 'memory'],
  ],
  smClock: [
    ['clocks', 'smclock'],
    ['clocks', 'sm'],
  ],
  memClock: [
    ['clocks', 'memclock'],
    ['clocks', 'memory'],
  ],
  eccMode: [
    ['eccmode', 'currentecc'],
    ['eccmode', 'current'],
  ],
  migMode: [
    ['migmode', 'currentmig'],
    ['migmode', 'current'],
  ],
  retiredSbe: [
    ['retiredpages', 'multiplesinglebitretirement', 'retiredcount'],
    ['retiredpages', 'singlebitecc'],
  ],
  retiredDbe: [
    ['retiredpages', 'doublebitretirement', 'retiredcount'],
    ['retiredpages', 'doublebitecc'],
  ],
  retiredPending: [
    ['retiredpages', 'pendingretirement'],
    ['retiredpages', 'pendingblacklist'],
    ['retiredpages', 'pendingpageretirement'],
    ['retiredpages', 'pendingpageblacklist'],
    ['retiredpages', 'pending'],
  ],
  remapCorrectable: [
    ['remappedrows', 'remappedrowcorr'],
    ['remappedrows', 'correctableerror'],
  ],
  remapUncorrectable: [
    ['remappedrows', 'remappedrowunc'],
    ['remappedrows', 'uncorrectableerror'],
  ],
  remapPending: [
    ['remappedrows', 'remappedrowpending'],
    ['remappedrows', 'pending'],
  ],
  remapFailure: [
    ['remappedrows', 'remappedrowfailure'],
    ['remappedrows', 'remappingfailureoccurred'],
  ],
  // XML <pci><replay_counter>, text PCI "Replays Since Reset" (nvidia-smi's --query-gpu has no such field).
  pcieReplay: [
    ['pci', 'replaycounter'],
    ['pci', 'replayssincereset'],
  ],
  migMemoryTotal: [
    ['fbmemoryusage', 'total'],
    ['sharedfbmemoryusage', 'total'],
  ],
  migMemoryUsed: [
    ['fbmemoryusage', 'used'],
    ['sharedfbmemoryusage', 'used'],
  ],
} satisfies Record<string, Paths>;

const isReal = (raw: string): boolean => cleanValue(raw) !== null;
const first = (node: SmiNode, paths: Paths): string | null => smiFirst(node, paths, isReal);

/** One GPU section (XML `<gpu>` or text `GPU 0000...`) as a snapshot; `index` is its place in the output. */
export function snapshotFromSmiGpu(gpu: SmiNode, index: number, host: SmiHostFacts): GpuSnapshot {
  const s = emptyGpuSnapshot('nvidia', index);
  s.uuid = cleanValue(first(gpu, P.uuid));
  s.name = cleanValue(smiValue(gpu, 'productname'));
  s.pciBusId = normalizePciBusId(first(gpu, P.busId)) ?? normalizePciBusId(gpu.id);
  s.serial = cleanValue(first(gpu, P.serial));
  s.memoryTotalBytes = bytesOf(smiValue(gpu, 'fbmemoryusage', 'total'));
  s.memoryUsedBytes = bytesOf(smiValue(gpu, 'fbmemoryusage', 'used'));
  s.driverVersion = host.driverVersion;
  s.runtimeVersion = host.runtimeVersion;
  s.vbiosVersion = cleanValue(smiValue(gpu, 'vbiosversion'));
  s.powerLimitW = wattsOf(first(gpu, P.powerLimit));
  s.powerDrawW = wattsOf(first(gpu, P.powerDraw));
  s.temperatureC = celsiusOf(first(gpu, P.temperature));
  s.memoryTemperatureC = celsiusOf(first(gpu, P.memoryTemperature));
  s.utilizationPct = percentOf(first(gpu, P.utilization));
  s.memoryUtilizationPct = percentOf(first(gpu, P.memoryUtilization));
  s.smClockMhz = mhzOf(first(gpu, P.smClock));
  s.memClockMhz = mhzOf(first(gpu, P.memClock));
  s.fanPct = percentOf(smiValue(gpu, 'fanspeed'));
  s.eccMode = enabledOf(first(gpu, P.eccMode));
  s.migMode = enabledOf(first(gpu, P.migMode));
  s.migDevices = migDevicesOf(gpu);

  const volatile = eccTotals(smiChild(gpu, 'eccerrors', 'volatile'));
  const aggregate = eccTotals(smiChild(gpu, 'eccerrors', 'aggregate'));
  s.eccCorrectedVolatile = volatile.corrected;
  s.eccUncorrectedVolatile = volatile.uncorrected;
  s.eccCorrectedAggregate = aggregate.corrected;
  s.eccUncorrectedAggregate = aggregate.uncorrected;

  s.retiredPagesSbe = countOf(first(gpu, P.retiredSbe));
  s.retiredPagesDbe = countOf(first(gpu, P.retiredDbe));
  s.retiredPagesPending = yesNoOf(first(gpu, P.retiredPending));
  s.remappedRowsCorrectable = countOf(first(gpu, P.remapCorrectable));
  s.remappedRowsUncorrectable = countOf(first(gpu, P.remapUncorrectable));
  s.remappedRowsPending = yesNoOf(first(gpu, P.remapPending));
  s.remappedRowsFailure = yesNoOf(first(gpu, P.remapFailure));
  s.pcieReplayCount = countOf(first(gpu, P.pcieReplay));

  s.throttleReasons = throttleReasonsOf(smiChild(gpu, 'clockseventreasons') ?? smiChild(gpu, 'clocksthrottlereasons'));
  return s;
}

/**
 * ECC error totals of one `volatile` or `aggregate` section. Older drivers print `single_bit` and
 * `double_bit` groups with a `total`; newer ones print SRAM and DRAM counters (uncorrectable
 * SRAM split into parity and SEC-DED since r550), which are summed.
 */
function eccTotals(section: SmiNode | undefined): { corrected: number | null; uncorrected: number | null } {
  if (!section) return { corrected: null, uncorrected: null };
  const single = smiChild(section, 'singlebit');
  const double = smiChild(section, 'doublebit');
  if (single || double) {
    return { corrected: countOf(smiValue(single, 'total')), uncorrected: countOf(smiValue(double, 'total')) };
  }
  const count = (key: string): number | null => countOf(smiValue(section, key));
  // A plain sram_uncorrectable is the total where present; never add the split counters to it too.
  const sramUncorrectable = smiChild(section, 'sramuncorrectable')
    ? count('sramuncorrectable')
    : sumKnown([count('sramuncorrectableparity'), count('sramuncorrectablesecded')]);
  return {
    corrected: sumKnown([count('sramcorrectable'), count('dramcorrectable')]),
    uncorrected: sumKnown([sramUncorrectable, count('dramuncorrectable')]),
  };
}

/** Active reasons anywhere in the section: the text format nests the HW thermal / power-brake reasons under HW Slowdown. */
function throttleReasonsOf(section: SmiNode | undefined): ThrottleReason[] {
  const active: ThrottleReason[] = [];
  const pending = section ? [...section.children] : [];
  while (pending.length > 0) {
    const node = pending.pop()!;
    const reason = throttleReasonOf(node.label);
    if (reason && activeOf(node.value)) active.push(reason);
    pending.push(...node.children);
  }
  return sortReasons(active);
}

/** MIG devices: XML `<mig_devices><mig_device>`, text `MIG Device` sections (older text drivers: under `MIG Devices`). */
function migDevicesOf(gpu: SmiNode): MigDevice[] {
  const nodes = [...smiChildren(smiChild(gpu, 'migdevices'), 'migdevice'), ...smiChildren(gpu, 'migdevice')];
  const devices: MigDevice[] = [];
  for (const node of nodes) {
    const gpuInstanceId = countOf(smiValue(node, 'gpuinstanceid'));
    // A MIG device is keyed by its GPU instance; one without is not one we can name.
    if (gpuInstanceId === null) continue;
    devices.push({
      gpuInstanceId,
      computeInstanceId: countOf(smiValue(node, 'computeinstanceid')),
      uuid: cleanValue(first(node, [['uuid'], ['miguuid'], ['deviceuuid']])),
      profile: cleanValue(first(node, [['profile'], ['profilename'], ['name']])),
      memoryTotalBytes: bytesOf(first(node, P.migMemoryTotal)),
      memoryUsedBytes: bytesOf(first(node, P.migMemoryUsed)),
    });
  }
  return devices;
}
