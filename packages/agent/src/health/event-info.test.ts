import { describe, expect, it } from 'vitest';
import { describeKernelEvent } from './event-info.js';
import { parseKernelLine } from './kernel-line.js';

const info = (line: string) => describeKernelEvent(parseKernelLine(line)!);

describe('describeKernelEvent', () => {
  it('takes Xid severity, action and description from the catalog', () => {
    expect(info('NVRM: Xid (PCI:0000:01:00): 79, GPU has fallen off the bus.')).toEqual({
      severity: 'critical',
      action: 'RESTART_BM',
      description: 'GPU has fallen off the bus',
      title: 'Xid 79',
    });
    expect(info('NVRM: Xid (PCI:0000:01:00): 13, pid=1, name=a, Graphics Exception')).toMatchObject({
      severity: 'warning',
      action: 'RESTART_APP',
      description: 'Graphics Engine Exception',
    });
    expect(info('NVRM: Xid (PCI:0018:01:00): 145, RLW_RXPIPE Nonfatal XC0 i0 Link 13 (0x0409a0c2)')).toMatchObject({
      severity: 'warning',
      action: 'WORKFLOW_NVLINK5_ERR',
    });
    expect(info('NVRM: Xid (PCI:0000:00:00): 149, NETIR_LINK_EVT Fatal XC0 i0 Link 00 (0x025001c6)')).toMatchObject({ severity: 'critical' });
  });

  it('treats the un-numbered fallen-off-bus forms as Xid 79', () => {
    expect(info('NVRM: GPU 0000:3b:00.0: GPU has fallen off the bus.')).toEqual({
      severity: 'critical',
      action: 'RESTART_BM',
      description: 'GPU has fallen off the bus',
      title: 'fallen off the bus',
    });
  });

  it('takes SXid severity and name from the NVSwitch catalog', () => {
    expect(info('nvidia-nvswitch1: SXid (PCI:0000:06:00.0): 20034, Fatal, Link 48 LTSSM Fault Up')).toEqual({
      severity: 'critical',
      action: null,
      description: 'LTSSM Fault Up',
      title: 'SXid 20034',
    });
  });

  it('describes driver messages from the driver-message table', () => {
    expect(info('NVRM: GPU 0000:3b:00.0: RmInitAdapter failed! (0x26:0xffff:1547)')).toMatchObject({
      severity: 'critical',
      action: null,
      description: 'the driver could not initialise the GPU',
    });
    expect(
      info('NVRM: Rate limiting GSP RPC error prints for GPU at PCI:0000:9b:00 (printing 1 of every 30).  The GPU likely needs to be reset.'),
    ).toMatchObject({ severity: 'warning' });
  });
});
