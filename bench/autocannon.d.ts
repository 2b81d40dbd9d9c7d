// The parts of autocannon 8's result that the benches read (the package ships no types).
declare module 'autocannon' {
  interface Histogram { average: number; p50: number; p99: number; mean: number }
  interface Result { requests: Histogram & { total: number }; latency: Histogram; non2xx: number; errors: number; timeouts: number; /** Seconds the run took. */ duration: number }
  interface Options { url: string; connections?: number; duration?: number; amount?: number; method?: string; headers?: Record<string, string>; body?: string }
  function autocannon(opts: Options): Promise<Result>;
  export default autocannon;
}
