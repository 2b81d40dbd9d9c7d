// The load balancer in front of a cluster's masters (what Magnum's master_lb_enabled makes with
// Octavia): a container of the node image on the cluster network whose only process is this
// script. It spreads new TCP connections to its port over the masters' API servers that accept a
// connection (probed every second, 1 s timeout each) with iptables DNAT (statistic, random), so
// a master that stops, or is not up yet, gets no new connection within about 2 s; established
// connections stay with their master (conntrack). Nothing in it terminates TLS: clients see the
// API servers' own certificates (which name the load balancer's address).

/** The command line of the load balancer container (the node image's entrypoint runs it as it is). */
export function apiLbCommand(port: number, masters: readonly string[]): string[] {
  return ['bash', '-c', SCRIPT, 'magnum-api-lb', String(port), ...masters];
}

const SCRIPT = [
  "set -u",
  "port=$1; shift",
  "masters=(\"$@\")",
  "ipt=iptables",
  "if ! iptables -t nat -nL >/dev/null 2>&1 && iptables-legacy -t nat -nL >/dev/null 2>&1; then ipt=iptables-legacy; fi",
  "echo 1 >/proc/sys/net/ipv4/ip_forward",
  "$ipt -t nat -N MAGNUM-API 2>/dev/null || true",
  "$ipt -t nat -C PREROUTING -p tcp --dport \"$port\" -j MAGNUM-API 2>/dev/null || $ipt -t nat -A PREROUTING -p tcp --dport \"$port\" -j MAGNUM-API",
  "$ipt -t nat -C POSTROUTING -m conntrack --ctstate DNAT -j MASQUERADE 2>/dev/null || $ipt -t nat -A POSTROUTING -m conntrack --ctstate DNAT -j MASQUERADE",
  "trap 'exit 0' TERM INT",
  "last=",
  "while :; do",
  "  up=()",
  "  for m in \"${masters[@]}\"; do",
  "    timeout 1 bash -c \"exec 3<>/dev/tcp/$m/$port\" 2>/dev/null && up+=(\"$m\")",
  "  done",
  "  # None answers (all starting, or all down): spread over all of them rather than refuse.",
  "  [ ${#up[@]} -gt 0 ] || up=(\"${masters[@]}\")",
  "  if [ \"${up[*]}\" != \"$last\" ]; then",
  "    {",
  "      echo '*nat'",
  "      echo ':MAGNUM-API - [0:0]'",
  "      left=${#up[@]}",
  "      for m in \"${up[@]}\"; do",
  "        if [ \"$left\" -gt 1 ]; then",
  "          printf -- '-A MAGNUM-API -p tcp -m statistic --mode random --probability 0.%05d -j DNAT --to-destination %s:%s\\n' $((100000 / left)) \"$m\" \"$port\"",
  "        else",
  "          printf -- '-A MAGNUM-API -p tcp -j DNAT --to-destination %s:%s\\n' \"$m\" \"$port\"",
  "        fi",
  "        left=$((left - 1))",
  "      done",
  "      echo COMMIT",
  "    } | \"$ipt-restore\" --noflush && echo \"$(date +%T) API servers: ${up[*]}\" && last=\"${up[*]}\"",
  "  fi",
  "  sleep 1 & wait $!",
  "done",
].join('\n');
