import { useEffect } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { AuthProvider, useAuth } from './lib/auth.js';
import { Router, matchPath, useRouter } from './lib/router.js';
import { LiveProvider } from './lib/live.js';
import { SignerProvider } from './lib/signing/signer-context.js';
import { Layout } from './components/layout.js';
import { SignInPage } from './pages/signin.js';
import { OverviewPage } from './pages/overview.js';
import { NodesPage } from './pages/nodes.js';
import { NodeDetailPage } from './pages/node-detail.js';
import { GpusPage } from './pages/gpus.js';
import { AlertsPage } from './pages/alerts.js';
import { EventsPage } from './pages/events.js';
import { TokensPage } from './pages/tokens.js';
import { RunsPage } from './pages/runs.js';
import { RunDetailPage } from './pages/run-detail.js';
import { AuditPage } from './pages/audit.js';
import { SigningKeyPage } from './pages/signing-key.js';
import { NewRunPage } from './pages/run-new.js';
import { ApiTokensPage } from './pages/api-tokens.js';
import { JobsPage } from './pages/jobs.js';
import { NewJobPage } from './pages/job-new.js';
import { JobDetailPage } from './pages/job-detail.js';
import { PoolsPage } from './pages/pools.js';
import { PoolDetailPage } from './pages/pool-detail.js';
import { SshHostsPage } from './pages/ssh-hosts.js';
import { AddSshHostPage } from './pages/ssh-host-add.js';
import { GroupsPage } from './pages/groups.js';
import { GroupDetailPage } from './pages/group-detail.js';
import { NodeVarsPage } from './pages/node-vars.js';
import { PlaysPage } from './pages/plays.js';
import { NewPlayPage } from './pages/play-new.js';
import { PlayDetailPage } from './pages/play-detail.js';
import { TemplateDetailPage } from './pages/template-detail.js';
import { RolloutsPage } from './pages/rollouts.js';
import { RolloutDetailPage } from './pages/rollout-detail.js';
import { Empty } from './components/states.js';
import { ConfirmProvider } from './components/dialog.js';

function Page() {
  const { path } = useRouter();
  let m: Record<string, string> | null;
  if (path === '/' || path === '') return <OverviewPage />;
  if (path === '/nodes') return <NodesPage />;
  if ((m = matchPath('/nodes/:ref', path))) return <NodeDetailPage key={m.ref} nodeRef={m.ref!} />;
  if ((m = matchPath('/nodes/:ref/vars', path))) return <NodeVarsPage key={m.ref} nodeRef={m.ref!} />;
  if (path === '/ssh-hosts') return <SshHostsPage />;
  if (path === '/ssh-hosts/add') return <AddSshHostPage />;
  if (path === '/groups') return <GroupsPage />;
  if ((m = matchPath('/groups/:name', path))) return <GroupDetailPage key={m.name} name={m.name!} />;
  if (path === '/plays') return <PlaysPage />;
  if (path === '/plays/new') return <NewPlayPage />;
  if ((m = matchPath('/plays/templates/:name', path))) return <TemplateDetailPage key={m.name} name={m.name!} />;
  if ((m = matchPath('/plays/:id', path))) return <PlayDetailPage key={m.id} playId={m.id!} />;
  if (path === '/gpus') return <GpusPage />;
  if (path === '/jobs') return <JobsPage />;
  if (path === '/jobs/new') return <NewJobPage />;
  if ((m = matchPath('/jobs/:name', path))) return <JobDetailPage key={m.name} name={m.name!} />;
  if (path === '/pools') return <PoolsPage />;
  if ((m = matchPath('/pools/:name', path))) return <PoolDetailPage key={m.name} name={m.name!} />;
  if (path === '/rollouts') return <RolloutsPage />;
  if ((m = matchPath('/rollouts/:id', path))) return <RolloutDetailPage key={m.id} rolloutId={m.id!} />;
  if (path === '/alerts') return <AlertsPage />;
  if (path === '/events') return <EventsPage />;
  if (path === '/tokens') return <TokensPage />;
  if (path === '/runs') return <RunsPage />;
  if (path === '/runs/new') return <NewRunPage />;
  if ((m = matchPath('/runs/:id', path))) return <RunDetailPage key={m.id} runId={m.id!} />;
  if (path === '/audit') return <AuditPage />;
  if (path === '/keys') return <SigningKeyPage />;
  if (path === '/api-tokens') return <ApiTokensPage />;
  return <Empty>No page at {path}.</Empty>;
}

function Shell() {
  const { session } = useAuth();
  const qc = useQueryClient();
  // Nothing from one token's session may show in the next one's.
  useEffect(() => {
    if (!session) qc.clear();
  }, [session, qc]);
  if (!session) return <SignInPage />;
  return (
    <LiveProvider>
      <SignerProvider>
        <ConfirmProvider>
          <Layout>
            <Page />
          </Layout>
        </ConfirmProvider>
      </SignerProvider>
    </LiveProvider>
  );
}

export function App() {
  return (
    <AuthProvider>
      <Router>
        <Shell />
      </Router>
    </AuthProvider>
  );
}
