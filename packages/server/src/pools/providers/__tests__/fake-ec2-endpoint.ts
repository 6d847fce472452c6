import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the EC2 Query API (version 2016-11-15), built from the API reference:
 * form-encoded POSTs (`Action=RunInstances&...`), XML answers in the documented shapes
 * (RunInstancesResponse, DescribeInstancesResponse with reservationSet, ...), and errors as
 * `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>` with the
 * documented codes and messages. Instances live in memory; ClientToken is honoured.
 * It checks the access key id of the SigV4 Authorization header, not the signature.
 */

export interface FakeEc2Instance {
  instanceId: string;
  imageId: string;
  instanceType: string;
  zone: string;
  subnetId: string | null;
  state: 'pending' | 'running' | 'shutting-down' | 'terminated';
  launchTime: string;
  privateIp: string;
  publicIp: string | null;
  tags: Array<{ key: string; value: string }>;
  userData: string | null;
  clientToken: string | null;
  keyName: string | null;
  securityGroupIds: string[];
  iamInstanceProfile: string | null;
}

interface ScriptedAnswer {
  action: string;
  status: number;
  body: string;
  contentType?: string;
}

export const FAKE_AMI = 'ami-0abcdef1234567890';
export const FAKE_SUBNETS: Record<string, string> = { 'us-east-1a': 'subnet-0a1b2c3d4e5f60001', 'us-east-1b': 'subnet-0a1b2c3d4e5f60002' };
const ZONES = ['us-east-1a', 'us-east-1b', 'us-east-1c'];

/** Instance types with their GPUs, as DescribeInstanceTypes documents gpuInfo. */
export const FAKE_TYPES: Record<string, { gpus: Array<{ name: string; manufacturer: string; count: number; memoryMiB: number }>; vcpus: number }> = {
  'p5.48xlarge': { gpus: [{ name: 'H100', manufacturer: 'NVIDIA', count: 8, memoryMiB: 81920 }], vcpus: 192 },
  'g5.xlarge': { gpus: [{ name: 'A10G', manufacturer: 'NVIDIA', count: 1, memoryMiB: 24576 }], vcpus: 4 },
  'm5.large': { gpus: [], vcpus: 2 },
};

export class FakeEc2Endpoint {
  readonly accessKeyId = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
  readonly secretAccessKey = randomBytes(20).toString('base64');
  readonly instances = new Map<string, FakeEc2Instance>();
  /** Every request's Action, in order. */
  readonly actions: string[] = [];
  /** Every RunInstances request's parameters, in order. */
  readonly runRequests: Array<Record<string, string>> = [];
  /** Zones where RunInstances answers InsufficientInstanceCapacity. */
  readonly noCapacityZones = new Set<string>();
  /** Zones where RunInstances answers Unsupported (the type is not offered there). */
  readonly unsupportedZones = new Set<string>();
  /** vCPUs the account may run; past it RunInstances answers VcpuLimitExceeded. */
  vcpuLimit = 10_000;
  /** The next this-many requests answer RequestLimitExceeded. */
  throttleNext = 0;
  /** Milliseconds to wait before answering, per Action. */
  readonly delays = new Map<string, number>();
  private readonly scripted: ScriptedAnswer[] = [];
  private server: Server | undefined;
  private seq = 0;

  get url(): string {
    const addr = this.server?.address() as AddressInfo | null;
    if (!addr) throw new Error('fake EC2 endpoint is not started');
    return `http://127.0.0.1:${addr.port}`;
  }

  get credentials() {
    return { accessKeyId: this.accessKeyId, secretAccessKey: this.secretAccessKey };
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next request for `action` gets this raw answer (garbage tests). */
  answerNext(action: string, status: number, body: string, contentType = 'text/xml;charset=UTF-8'): void {
    this.scripted.push({ action, status, body, contentType });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const params = Object.fromEntries(new URLSearchParams(await readBody(req)));
    const action = params.Action ?? '';
    this.actions.push(action);
    const delay = this.delays.get(action);
    if (delay) await new Promise((r) => setTimeout(r, delay));
    if (res.destroyed) return;
    const i = this.scripted.findIndex((s) => s.action === action);
    if (i >= 0) {
      const [s] = this.scripted.splice(i, 1);
      res.writeHead(s!.status, { 'content-type': s!.contentType ?? 'text/xml' });
      res.end(s!.body);
      return;
    }
    const credential = /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1];
    if (credential !== this.accessKeyId) return error(res, 401, 'AuthFailure', 'AWS was not able to validate the provided access credentials');
    if (params.Version !== '2016-11-15') return error(res, 400, 'InvalidParameterValue', `Invalid API version: ${params.Version}`);
    if (this.throttleNext > 0) {
      this.throttleNext--;
      return error(res, 503, 'RequestLimitExceeded', 'Request limit exceeded.');
    }
    switch (action) {
      case 'RunInstances':
        return this.runInstances(res, params);
      case 'DescribeInstances':
        return this.describeInstances(res, params);
      case 'TerminateInstances':
        return this.terminateInstances(res, params);
      case 'DescribeInstanceTypes':
        return this.describeInstanceTypes(res, params);
      default:
        return error(res, 400, 'InvalidAction', `The action ${action} is not valid for this web service.`);
    }
  }

  private runInstances(res: ServerResponse, p: Record<string, string>): void {
    this.runRequests.push(p);
    const token = p.ClientToken ?? null;
    const same = token ? [...this.instances.values()].find((i) => i.clientToken === token) : undefined;
    if (same) return ok(res, 'RunInstancesResponse', reservationXml(same, 'instancesSet'));
    const imageId = p.ImageId ?? '';
    if (!/^ami-[0-9a-f]{8,17}$/.test(imageId)) return error(res, 400, 'InvalidAMIID.Malformed', `Invalid id: "${imageId}" (expecting "ami-...")`);
    if (imageId !== FAKE_AMI) return error(res, 400, 'InvalidAMIID.NotFound', `The image id '[${imageId}]' does not exist`);
    const type = FAKE_TYPES[p.InstanceType ?? ''];
    if (!type) return error(res, 400, 'InvalidParameterValue', `Invalid value '${p.InstanceType}' for InstanceType.`);
    let zone: string | null = p['Placement.AvailabilityZone'] ?? null;
    const subnetId = p.SubnetId ?? null;
    if (subnetId) {
      zone = Object.entries(FAKE_SUBNETS).find(([, s]) => s === subnetId)?.[0] ?? null;
      if (!zone) return error(res, 400, 'InvalidSubnetID.NotFound', `The subnet ID '${subnetId}' does not exist`);
    }
    zone ??= ZONES[0]!;
    if (!ZONES.includes(zone)) return error(res, 400, 'InvalidParameterValue', `Invalid availability zone: [${zone}]`);
    if (this.unsupportedZones.has(zone)) {
      return error(
        res,
        400,
        'Unsupported',
        `Your requested instance type (${p.InstanceType}) is not supported in your requested Availability Zone (${zone}). Please retry your request by not specifying an Availability Zone or choosing ${ZONES.filter((z) => z !== zone).join(', ')}.`,
      );
    }
    if (this.noCapacityZones.has(zone)) {
      return error(
        res,
        500,
        'InsufficientInstanceCapacity',
        `We currently do not have sufficient ${p.InstanceType} capacity in the Availability Zone you requested (${zone}). Our system will be working on provisioning additional capacity. You can currently get ${p.InstanceType} capacity by not specifying an Availability Zone in your request or choosing ${ZONES.filter((z) => z !== zone && !this.noCapacityZones.has(z)).join(', ')}.`,
      );
    }
    const used = [...this.instances.values()].filter((i) => i.state !== 'terminated').reduce((n, i) => n + (FAKE_TYPES[i.instanceType]?.vcpus ?? 0), 0);
    if (used + type.vcpus > this.vcpuLimit) {
      return error(
        res,
        400,
        'VcpuLimitExceeded',
        `You have requested more vCPU capacity than your current vCPU limit of ${this.vcpuLimit} allows for the instance bucket that the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.`,
      );
    }
    const n = ++this.seq;
    const instance: FakeEc2Instance = {
      instanceId: `i-${randomBytes(9).toString('hex').slice(0, 17)}`,
      imageId,
      instanceType: p.InstanceType!,
      zone,
      subnetId,
      state: 'pending',
      launchTime: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
      privateIp: `172.31.0.${n}`,
      publicIp: null,
      tags: tagsOf(p, 'instance'),
      userData: p.UserData ?? null,
      clientToken: token,
      keyName: p.KeyName ?? null,
      securityGroupIds: listParam(p, 'SecurityGroupId'),
      iamInstanceProfile: p['IamInstanceProfile.Name'] ?? p['IamInstanceProfile.Arn'] ?? null,
    };
    this.instances.set(instance.instanceId, instance);
    ok(res, 'RunInstancesResponse', reservationXml(instance, 'instancesSet'));
  }

  private describeInstances(res: ServerResponse, p: Record<string, string>): void {
    let list = [...this.instances.values()];
    for (let f = 1; p[`Filter.${f}.Name`]; f++) {
      const name = p[`Filter.${f}.Name`]!;
      const values = listParam(p, `Filter.${f}.Value`);
      if (name !== 'tag-key') return error(res, 400, 'InvalidParameterValue', `The filter '${name}' is invalid`);
      list = list.filter((i) => i.tags.some((t) => values.includes(t.key)));
    }
    const max = p.MaxResults ? Number(p.MaxResults) : list.length;
    if (p.MaxResults && (max < 5 || max > 1000))
      return error(res, 400, 'InvalidParameterValue', `Value ( ${p.MaxResults} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.`);
    const start = p.NextToken ? Number(Buffer.from(p.NextToken, 'base64').toString()) : 0;
    const page = list.slice(start, start + max);
    const next = start + max < list.length ? Buffer.from(String(start + max)).toString('base64') : null;
    // One reservation per instance, as RunInstances made them.
    const reservations = page.map((i) => `<item>${reservationXml(i, 'instancesSet')}</item>`).join('');
    ok(res, 'DescribeInstancesResponse', `<reservationSet>${reservations}</reservationSet>${next ? `<nextToken>${next}</nextToken>` : ''}`);
  }

  private terminateInstances(res: ServerResponse, p: Record<string, string>): void {
    const ids = listParam(p, 'InstanceId');
    const unknown = ids.filter((id) => !this.instances.has(id));
    if (unknown.length > 0) return error(res, 400, 'InvalidInstanceID.NotFound', `The instance ID '${unknown.join(', ')}' does not exist`);
    const items = ids.map((id) => {
      const inst = this.instances.get(id)!;
      const previous = inst.state;
      inst.state = 'terminated';
      return `<item><instanceId>${id}</instanceId><currentState><code>32</code><name>shutting-down</name></currentState><previousState><code>${stateCode(previous)}</code><name>${previous}</name></previousState></item>`;
    });
    ok(res, 'TerminateInstancesResponse', `<instancesSet>${items.join('')}</instancesSet>`);
  }

  private describeInstanceTypes(res: ServerResponse, p: Record<string, string>): void {
    const names = listParam(p, 'InstanceType');
    const unknown = names.filter((n) => !FAKE_TYPES[n]);
    if (unknown.length > 0) return error(res, 400, 'InvalidInstanceType', `The following supplied instance types do not exist: [${unknown.join(', ')}]`);
    const items = names.map((name) => {
      const t = FAKE_TYPES[name]!;
      const gpus = t.gpus.length
        ? `<gpuInfo><gpus>${t.gpus.map((g) => `<item><name>${g.name}</name><manufacturer>${g.manufacturer}</manufacturer><count>${g.count}</count><memoryInfo><sizeInMiB>${g.memoryMiB}</sizeInMiB></memoryInfo></item>`).join('')}</gpus><totalGpuMemoryInMiB>${t.gpus.reduce((n, g) => n + g.count * g.memoryMiB, 0)}</totalGpuMemoryInMiB></gpuInfo>`
        : '';
      return `<item><instanceType>${name}</instanceType><currentGeneration>true</currentGeneration><vCpuInfo><defaultVCpus>${t.vcpus}</defaultVCpus></vCpuInfo>${gpus}</item>`;
    });
    ok(res, 'DescribeInstanceTypesResponse', `<instanceTypeSet>${items.join('')}</instanceTypeSet>`);
  }
}

function reservationXml(i: FakeEc2Instance, setName: string): string {
  const tags = i.tags.map((t) => `<item><key>${esc(t.key)}</key><value>${esc(t.value)}</value></item>`).join('');
  return [
    `<reservationId>r-${i.instanceId.slice(2)}</reservationId><ownerId>123456789012</ownerId><groupSet/>`,
    `<${setName}><item>`,
    `<instanceId>${i.instanceId}</instanceId><imageId>${i.imageId}</imageId>`,
    `<instanceState><code>${stateCode(i.state)}</code><name>${i.state}</name></instanceState>`,
    `<privateDnsName>ip-${i.privateIp.replaceAll('.', '-')}.ec2.internal</privateDnsName><dnsName/>`,
    i.keyName ? `<keyName>${esc(i.keyName)}</keyName>` : '',
    `<amiLaunchIndex>0</amiLaunchIndex><instanceType>${i.instanceType}</instanceType><launchTime>${i.launchTime}</launchTime>`,
    `<placement><availabilityZone>${i.zone}</availabilityZone><groupName/><tenancy>default</tenancy></placement>`,
    `<monitoring><state>disabled</state></monitoring>`,
    i.subnetId ? `<subnetId>${i.subnetId}</subnetId>` : '',
    `<privateIpAddress>${i.privateIp}</privateIpAddress>`,
    i.publicIp ? `<ipAddress>${i.publicIp}</ipAddress>` : '',
    tags ? `<tagSet>${tags}</tagSet>` : '',
    i.clientToken ? `<clientToken>${esc(i.clientToken)}</clientToken>` : '',
    `<architecture>x86_64</architecture><rootDeviceType>ebs</rootDeviceType><hypervisor>xen</hypervisor>`,
    `</item></${setName}>`,
  ].join('');
}

function stateCode(state: string): number {
  return { pending: 0, running: 16, 'shutting-down': 32, terminated: 48 }[state] ?? 0;
}

/** `Name.1`, `Name.2`, ... as a list. */
function listParam(p: Record<string, string>, name: string): string[] {
  const out: string[] = [];
  for (let n = 1; p[`${name}.${n}`] !== undefined; n++) out.push(p[`${name}.${n}`]!);
  return out;
}

function tagsOf(p: Record<string, string>, resourceType: string): Array<{ key: string; value: string }> {
  const tags: Array<{ key: string; value: string }> = [];
  for (let s = 1; p[`TagSpecification.${s}.ResourceType`] !== undefined; s++) {
    if (p[`TagSpecification.${s}.ResourceType`] !== resourceType) continue;
    for (let t = 1; p[`TagSpecification.${s}.Tag.${t}.Key`] !== undefined; t++) {
      tags.push({ key: p[`TagSpecification.${s}.Tag.${t}.Key`]!, value: p[`TagSpecification.${s}.Tag.${t}.Value`] ?? '' });
    }
  }
  return tags;
}

function ok(res: ServerResponse, root: string, inner: string): void {
  res.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8' });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${randomUUID()}</requestId>${inner}</${root}>`,
  );
}

/** The documented EC2 error answer. */
function error(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8' });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${esc(message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`,
  );
}

function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&apos;');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
