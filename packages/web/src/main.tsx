import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { App } from './app.js';
import './styles.css';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // Live data comes by SSE; a refetch now and then repairs anything a dropped event missed.
      staleTime: 5_000,
      refetchOnWindowFocus: true,
      retry: (count, err) =>
        count < 2 && !(err instanceof Error && 'status' in err && (err as { status: number }).status >= 400 && (err as { status: number }).status < 500),
    },
  },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <App />
    </QueryClientProvider>
  </StrictMode>,
);
