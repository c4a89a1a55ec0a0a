package spec

// Specs written for upstream ZLayer (its v1 spec types) run here
// unchanged. Every key upstream's parser knows is known here too: what
// this node implements is read into its own fields (one canonical form,
// whichever of the two shapes the file used), and every other key is
// refused as "KEY is not supported by this node" at its position, never
// as an unknown key, so a reader tells a misspelling from a feature this
// node lacks.
//
// The upstream pass runs on the node tree before the shape check: it
// reports the upstream-only forms this node cannot run and rewrites the
// ones it can into this node's forms, keeping their positions, so the
// shape check, the semantic checks and the decoder see one form.

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/zlayer/zlayer/internal/yamldoc"
)

// ContainerOptions are the container settings of a service that upstream
// ZLayer's spec has beside image and command (its Docker-like options).
type ContainerOptions struct {
	Hostname     string        `json:"hostname,omitempty" yaml:"hostname" schema:"hostname" doc:"Hostname of the replica (bridge network only: a host-network replica keeps the node's, as upstream ZLayer documents)."`
	DNS          []string      `json:"dns,omitempty" yaml:"dns" doc:"Name servers (IPv4 or IPv6 addresses) put ahead of the node's in the replica's resolv.conf (bridge network only)."`
	ExtraHosts   []string      `json:"extra_hosts,omitempty" yaml:"extra_hosts" doc:"Extra /etc/hosts entries, \"NAME:IP\"; the IP host-gateway stands for the node's address on the bridge (bridge network only)."`
	User         string        `json:"user,omitempty" yaml:"user" schema:"user" doc:"User the process runs as: uid, uid:gid, name or name:group (names from the image's /etc/passwd and /etc/group)."`
	Privileged   bool          `json:"privileged,omitempty" yaml:"privileged" doc:"Every capability, every host device and a writable /sys."`
	Capabilities []string      `json:"capabilities,omitempty" yaml:"capabilities" doc:"Linux capabilities added to the default set, e.g. NET_ADMIN or CAP_SYS_TIME (cap_add is another name for this key)."`
	CapAdd       []string      `json:"cap_add,omitempty" yaml:"-" key:"cap_add" doc:"Another name for capabilities, as Docker calls it: read into capabilities."`
	Devices      []Device      `json:"devices,omitempty" yaml:"devices" doc:"Host devices the container may use, at the same path."`
	PortMappings []PortMapping `json:"port_mappings,omitempty" yaml:"port_mappings" doc:"Ports of the node forwarded to the replica (docker run -p); on the host network only host_port = container_port, which it does anyway."`
	HostNetwork  bool          `json:"host_network,omitempty" yaml:"-" key:"host_network" doc:"Upstream ZLayer's older spelling of network_mode: host: read into network_mode."`
	Init         Init          `json:"init,omitzero" yaml:"init" doc:"Steps the node runs, in order, before each replica's container is made: waits for a TCP port or an HTTP answer."`
}

// Init is a service's init.
type Init struct {
	Steps []InitStep `json:"steps,omitempty" yaml:"steps" doc:"Init steps, run in order."`
}

// InitStep is one init step.
type InitStep struct {
	ID        string            `json:"id" yaml:"id" required:"true" doc:"Step name, shown in the replica's status while it runs."`
	Uses      string            `json:"uses" yaml:"uses" required:"true" enum:"init.wait_tcp,init.wait_http" doc:"init.wait_tcp (with: host, port) or init.wait_http (with: url, expect_status); a host that is a service of the deployment (SERVICE or SERVICE.DEPLOYMENT) is one of its ready replicas."`
	With      map[string]string `json:"with,omitempty" yaml:"with" doc:"The action's parameters."`
	Retry     int               `json:"retry,omitempty" yaml:"retry" minimum:"0" maximum:"1000" doc:"Attempts after a failed one (default 0)."`
	Timeout   Duration          `json:"timeout,omitempty" yaml:"timeout" doc:"How long one attempt waits (default 30s)."`
	OnFailure string            `json:"on_failure,omitempty" yaml:"on_failure" enum:"fail,warn,continue" doc:"fail (default): the replica fails and its restart policy runs; warn: logged, and the next step runs; continue: the next step runs."`
}

// Init step actions.
const (
	InitWaitTCP  = "init.wait_tcp"
	InitWaitHTTP = "init.wait_http"
	// DefaultInitTimeout is one attempt's time when a step does not say,
	// upstream's wait default.
	DefaultInitTimeout = 30 * time.Second
)

// Device is one entry of devices.
type Device struct {
	Path  string `json:"path" yaml:"path" required:"true" schema:"devpath" doc:"Host device path under /dev, e.g. /dev/kvm or /dev/net/tun."`
	Read  *bool  `json:"read,omitempty" yaml:"read" doc:"Allow reading (default true)."`
	Write *bool  `json:"write,omitempty" yaml:"write" doc:"Allow writing (default true)."`
	Mknod bool   `json:"mknod,omitempty" yaml:"mknod" doc:"Allow creating the device node (default false)."`
}

// Permissions are d's cgroup device permissions ("rwm" or part of it).
func (d Device) Permissions() string {
	p := ""
	if d.Read == nil || *d.Read {
		p += "r"
	}
	if d.Write == nil || *d.Write {
		p += "w"
	}
	if d.Mknod {
		p += "m"
	}
	return p
}

// PortMapping is one entry of port_mappings.
type PortMapping struct {
	HostPort      int    `json:"host_port" yaml:"host_port" minimum:"1" maximum:"65535" doc:"Port on the node (required here: this node assigns no ephemeral ports)."`
	ContainerPort int    `json:"container_port" yaml:"container_port" required:"true" minimum:"1" maximum:"65535" doc:"Port in the replica."`
	Protocol      string `json:"protocol,omitempty" yaml:"protocol" enum:"tcp,udp" doc:"tcp (default) or udp."`
	HostIP        string `json:"host_ip,omitempty" yaml:"host_ip" schema:"ip" doc:"Node address to listen on (default 0.0.0.0: all)."`
}

// EnvRefPrefix marks an env value taken from the node's environment
// ("$E:NAME", as upstream ZLayer writes it), read when a replica's
// container is made; "$$E:" escapes it.
const EnvRefPrefix = "$E:"

// EnvRef reads an env value: the node environment variable it names
// (name set), or the value with a "$$E:" escape undone.
func EnvRef(v string) (name, literal string) { return cutRef(v, EnvRefPrefix) }

// cutRef reads an env value that may reference something by prefix
// ("$S:", "$E:"): the name after the prefix, or the literal value, a
// doubled "$" before the prefix undone.
func cutRef(v, prefix string) (name, literal string) {
	switch {
	case strings.HasPrefix(v, "$"+prefix):
		return "", v[1:]
	case strings.HasPrefix(v, prefix):
		return v[len(prefix):], ""
	}
	return "", v
}

// EnvValue is the value a replica gets for env value v, node environment
// references resolved by lookup (os.LookupEnv on the node). Secret
// references are left as they are.
func EnvValue(v string, lookup func(string) (string, bool)) (string, error) {
	name, lit := EnvRef(v)
	if name == "" {
		return lit, nil
	}
	val, ok := lookup(name)
	if !ok {
		return "", fmt.Errorf("environment variable %s (referenced by %s%s) is not set on the node", name, EnvRefPrefix, name)
	}
	return val, nil
}

// Scale modes.
const (
	ScaleFixed  = "fixed"
	ScaleManual = "manual"
)

// Depends on_timeout values.
const (
	OnTimeoutFail     = "fail"
	OnTimeoutWarn     = "warn"
	OnTimeoutContinue = "continue"
)

// notSupported are the keys upstream ZLayer's v1 spec has that this node
// does not implement, by the object they belong to. rtype, schedule and
// concurrency are not here: they are jobs and cron, implemented apart.
var notSupported = map[*schema][]string{
	rootS: {"externals", "tunnels", "api"},
	serviceS: {
		"network", "replica_groups", "errors", "lifecycle", "isolation",
		"cap_drop", "node_mode", "node", "affinity", "platform", "service_type", "wasm", "wasm_http",
		"logs", "sysctls", "ulimits", "security_opt", "pid_mode", "ipc_mode", "extra_groups",
		"read_only_root_fs", "init_container", "tty", "stdin_open", "userns_mode", "cgroup_parent",
		"expose", "overlay", "localhost_reachability",
	},
	imageS:     {"source_policy"},
	endpointS:  {"stream", "target_role", "tunnel"},
	resourcesS: {"gpu", "pids_limit", "cpuset", "cpu_shares", "memory_swap", "memory_reservation", "memory_swappiness", "oom_score_adj", "oom_kill_disable", "blkio_weight"},
	storageS:   {"tier", "mode"},
}

// isNotSupported says whether key is an upstream key of s this node
// does not implement.
func isNotSupported(s *schema, key string) bool {
	return slices.Contains(notSupported[s], key)
}

func notSupportedMsg(what string) string { return what + " is not supported by this node" }

// upstreamServiceFields are the service keys ContainerOptions adds.
var upstreamServiceFields = []field{
	{name: "hostname", s: &schema{kind: kString, rule: hostnameRule}},
	{name: "dns", s: &schema{kind: kList, elem: &schema{kind: kString, rule: ipRule}}},
	{name: "extra_hosts", s: &schema{kind: kList, elem: &schema{kind: kString, rule: extraHostRule}}},
	{name: "user", s: &schema{kind: kString, rule: userRule}},
	{name: "privileged", s: &schema{kind: kBool}},
	{name: "capabilities", s: &schema{kind: kList, elem: &schema{kind: kString, rule: capabilityRule}}},
	{name: "cap_add", s: &schema{kind: kList, elem: &schema{kind: kString, rule: capabilityRule}}},
	{name: "devices", s: &schema{kind: kList, elem: deviceS}},
	{name: "port_mappings", s: &schema{kind: kList, elem: portMappingS}},
	{name: "host_network", s: &schema{kind: kBool}},
	{name: "init", s: initS},
}

var initS = &schema{kind: kObject, fields: []field{
	{name: "steps", s: &schema{kind: kList, elem: initStepS}},
}}

var initStepS = &schema{kind: kObject, fields: []field{
	{name: "id", required: true, s: &schema{kind: kString}},
	{name: "uses", required: true, s: &schema{kind: kEnum, enum: []string{InitWaitTCP, InitWaitHTTP}}},
	{name: "with", s: &schema{kind: kStringMap}},
	{name: "retry", s: &schema{kind: kInt, min: ip(0), max: ip(1000)}},
	{name: "timeout", s: durationS(MinDependsTimeout)},
	{name: "on_failure", s: &schema{kind: kEnum, enum: []string{"fail", "warn", "continue"}}},
}}

var deviceS = &schema{kind: kObject, fields: []field{
	{name: "path", required: true, s: &schema{kind: kString, rule: devPathRule}},
	{name: "read", s: &schema{kind: kBool}},
	{name: "write", s: &schema{kind: kBool}},
	{name: "mknod", s: &schema{kind: kBool}},
}}

var portMappingS = &schema{kind: kObject, fields: []field{
	{name: "host_port", s: portS},
	{name: "container_port", required: true, s: portS},
	{name: "protocol", s: &schema{kind: kEnum, enum: []string{"tcp", "udp"}}},
	{name: "host_ip", s: &schema{kind: kString, rule: ipRule}},
}}

var (
	hostnameRule   = &rule{check: checkHostname, pattern: hostnamePattern, maxLen: 63}
	userRule       = &rule{check: checkUser, pattern: userPattern}
	ipRule         = &rule{check: checkIP}
	extraHostRule  = &rule{check: checkExtraHost}
	capabilityRule = &rule{check: checkCapability}
	devPathRule    = &rule{check: checkDevPath, pattern: "^/dev/"}
)

const (
	hostnamePattern = `^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`
	userPattern     = `^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$`
)

var (
	hostnameRE = regexp.MustCompile(hostnamePattern)
	userRE     = regexp.MustCompile(userPattern)
)

// checkHostname takes one DNS label: the kernel's hostname is at most 64
// bytes, and a dotted name would make the replica's own name in its hosts
// file a domain.
func checkHostname(h string) error {
	if !hostnameRE.MatchString(h) {
		return fmt.Errorf("%q is not a hostname: use letters, digits and '-' (not at either end), up to 63 characters", h)
	}
	return nil
}

func checkUser(u string) error {
	if !userRE.MatchString(u) {
		return fmt.Errorf("%q is not a user: write uid, uid:gid, name or name:group", u)
	}
	return nil
}

func checkIP(s string) error {
	if net.ParseIP(s) == nil {
		return fmt.Errorf("%q is not an IPv4 or IPv6 address", s)
	}
	return nil
}

// HostGateway, as an extra_hosts address, is the node's address on the
// bridge (Docker's host-gateway).
const HostGateway = "host-gateway"

// SplitExtraHost cuts "NAME:IP" at its first ':' (an IPv6 address keeps
// its own).
func SplitExtraHost(e string) (name, ip string) {
	name, ip, _ = strings.Cut(e, ":")
	return name, ip
}

func checkExtraHost(e string) error {
	name, ip := SplitExtraHost(e)
	if len(name) > 253 || !hostRE.MatchString(strings.ToLower(name)) || strings.HasPrefix(name, "*") {
		return fmt.Errorf("%q: write NAME:IP with a host name such as db.local, got name %q", e, name)
	}
	if ip != HostGateway && net.ParseIP(ip) == nil {
		return fmt.Errorf("%q: write NAME:IP with an IPv4 or IPv6 address (or host-gateway), got %q", e, ip)
	}
	return nil
}

// capabilityNames are the Linux capabilities, without "CAP_".
var capabilityNames = []string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
	"LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
	"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

// checkCapability takes a capability name in upper case, with or without
// "CAP_" (NET_ADMIN, CAP_NET_ADMIN), as Docker does.
func checkCapability(c string) error {
	if !slices.Contains(capabilityNames, strings.TrimPrefix(c, "CAP_")) {
		return fmt.Errorf("%q is not a Linux capability: use one such as NET_ADMIN or CAP_SYS_TIME", c)
	}
	return nil
}

// CanonicalCapability writes a valid capability name with its "CAP_"
// prefix, as the OCI runtime spec wants it.
func CanonicalCapability(c string) string {
	if strings.HasPrefix(c, "CAP_") {
		return c
	}
	return "CAP_" + c
}

func checkDevPath(p string) error {
	if err := CheckAbsPath(p); err != nil {
		return err
	}
	if !strings.HasPrefix(p, "/dev/") {
		return fmt.Errorf("must be a device path under /dev, got %q", p)
	}
	return nil
}

// upstream is the upstream pass over the whole spec (see the top of this
// file). It runs before walk.
func (c *checker) upstream(root *yaml.Node) {
	svcs := mapGet(root, "services")
	if svcs == nil || svcs.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(svcs.Content); i += 2 {
		k, v := svcs.Content[i], svcs.Content[i+1]
		if v.Kind == yaml.MappingNode {
			c.upstreamService(v, "services."+k.Value)
		}
	}
}

// refuse reports the value n of key at path as not supported and drops
// the pair from m, so the shape check does not report it again.
func (c *checker) refuse(m, n *yaml.Node, path, what string) {
	c.add(n, path, "%s", notSupportedMsg(what))
	dropKey(m, n)
}

// dropKey removes from mapping m the pair whose value is v.
func dropKey(m, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i+1] == v {
			m.Content = slices.Delete(m.Content, i, i+2)
			return
		}
	}
}

// keyOf is the key node of mapping m whose value is v.
func keyOf(m, v *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i+1] == v {
			return m.Content[i]
		}
	}
	return nil
}

func scalarNode(like *yaml.Node, v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Line: like.Line, Column: like.Column}
}

func intNode(like *yaml.Node, v int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(v), Line: like.Line, Column: like.Column}
}

func isScalar(n *yaml.Node) bool { return n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null" }

func (c *checker) upstreamService(v *yaml.Node, p string) {
	// cap_add is another name for capabilities.
	if ca := mapGet(v, "cap_add"); ca != nil {
		if caps := mapGet(v, "capabilities"); caps != nil {
			c.add(keyOf(v, ca), p+".cap_add", "give capabilities or cap_add (another name for it), not both")
			dropKey(v, ca)
		} else {
			keyOf(v, ca).Value = "capabilities"
		}
	}
	// host_network: true is upstream's older network_mode: host.
	if hn := mapGet(v, "host_network"); hn != nil {
		var b bool
		if !isScalar(hn) || hn.Decode(&b) != nil {
			c.add(hn, p+".host_network", "must be true or false, got %q", hn.Value)
		} else if nm := mapGet(v, "network_mode"); b && (nm == nil || nm.Value == "default") {
			if nm != nil {
				dropKey(v, nm)
			}
			v.Content = append(v.Content, scalarNode(keyOf(v, hn), "network_mode"), scalarNode(hn, string(NetworkHost)))
		}
		dropKey(v, hn)
	}
	if nm := mapGet(v, "network_mode"); nm != nil {
		switch {
		case nm.Kind == yaml.MappingNode:
			c.refuse(v, nm, p+".network_mode", "network_mode in mapping form")
		case isScalar(nm) && nm.Value == "default":
			// upstream's "as the platform is configured": the node's default.
			dropKey(v, nm)
		case isScalar(nm) && (nm.Value == "none" || strings.HasPrefix(nm.Value, "bridge:") || strings.HasPrefix(nm.Value, "container:")):
			c.refuse(v, nm, p+".network_mode", "network_mode "+nm.Value)
		}
	}
	if sc := mapGet(v, "scale"); sc != nil && sc.Kind == yaml.MappingNode {
		if m := mapGet(sc, "mode"); isScalar(m) && m.Value == "adaptive" {
			// Its min, max, cooldown and targets go with it, unreported.
			c.add(m, p+".scale.mode", "%s", notSupportedMsg("scale.mode adaptive"))
			dropKey(v, sc)
		}
	}
	if sel := mapGet(v, "node_selector"); sel != nil && sel.Kind == yaml.MappingNode {
		c.upstreamNodeSelector(v, sel, p+".node_selector")
	}
	if eps := mapGet(v, "endpoints"); eps != nil && eps.Kind == yaml.SequenceNode {
		for j, ep := range eps.Content {
			if pr := mapGet(ep, "protocol"); isScalar(pr) && pr.Value == "websocket" {
				c.refuse(ep, pr, fmt.Sprintf("%s.endpoints[%d].protocol", p, j), "protocol websocket")
			}
		}
	}
	if st := mapGet(v, "storage"); st != nil && st.Kind == yaml.SequenceNode {
		for j, m := range st.Content {
			sp := fmt.Sprintf("%s.storage[%d]", p, j)
			t := mapGet(m, "type")
			if isScalar(t) && (t.Value == "anonymous" || t.Value == "s3") {
				c.add(t, sp+".type", "%s", notSupportedMsg("storage type "+t.Value))
				// Its place stays taken, so later entries keep their index;
				// a bare tmpfs at its target says nothing more.
				stand := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: m.Line, Column: m.Column}
				stand.Content = append(stand.Content, scalarNode(t, "type"), scalarNode(t, "tmpfs"))
				if tg := mapGet(m, "target"); tg != nil {
					stand.Content = append(stand.Content, scalarNode(tg, "target"), tg)
				}
				st.Content[j] = stand
				continue
			}
			if sz := mapGet(m, "size"); sz != nil && isScalar(t) && t.Value == "named" {
				c.refuse(m, sz, sp+".size", "size of a named volume")
			}
		}
	}
	if d := mapGet(v, "depends"); d != nil && d.Kind == yaml.SequenceNode {
		for j, dep := range d.Content {
			if cond := mapGet(dep, "condition"); isScalar(cond) && cond.Value == "ready" {
				c.refuse(dep, cond, fmt.Sprintf("%s.depends[%d].condition", p, j), "condition ready")
			}
		}
	}
	if h := mapGet(v, "health"); h != nil && h.Kind == yaml.MappingNode {
		if chk := mapGet(h, "check"); chk != nil && chk.Kind == yaml.MappingNode {
			if !c.upstreamCheck(v, chk, p+".health.check") {
				// Reported; the check's own rules would only repeat it.
				dropKey(v, h)
			}
		}
	}
	if in := mapGet(v, "init"); in != nil && in.Kind == yaml.MappingNode {
		if steps := mapGet(in, "steps"); steps != nil && steps.Kind == yaml.SequenceNode {
			bad := false
			for j, st := range steps.Content {
				if u := mapGet(st, "uses"); isScalar(u) && u.Value != InitWaitTCP && u.Value != InitWaitHTTP {
					c.add(u, fmt.Sprintf("%s.init.steps[%d].uses", p, j), "%s", notSupportedMsg("uses "+u.Value))
					bad = true
				}
			}
			if bad {
				dropKey(v, in)
			}
		}
	}
	if env := mapGet(v, "env"); env != nil && env.Kind == yaml.SequenceNode {
		c.add(env, p+".env", "must be a mapping of NAME: value (a list of {name, value} is not a form upstream ZLayer's parser takes either), got a list")
		dropKey(v, env)
	}
}

// upstreamNodeSelector reads upstream's {labels: {...}, prefer_labels:
// {...}} into this node's flat form. A mapping value tells it apart: a
// flat selector's values are scalars.
func (c *checker) upstreamNodeSelector(v, sel *yaml.Node, p string) {
	labels, prefer := mapGet(sel, "labels"), mapGet(sel, "prefer_labels")
	if (labels == nil || labels.Kind != yaml.MappingNode) && (prefer == nil || prefer.Kind != yaml.MappingNode) {
		return
	}
	if prefer != nil {
		c.add(keyOf(sel, prefer), p+".prefer_labels", "%s", notSupportedMsg("prefer_labels"))
	}
	flat := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: sel.Line, Column: sel.Column}
	for i := 0; i+1 < len(sel.Content); i += 2 {
		k, val := sel.Content[i], sel.Content[i+1]
		switch k.Value {
		case "labels":
			if val.Kind == yaml.MappingNode {
				flat.Content = append(flat.Content, val.Content...)
			} else {
				c.add(val, p+".labels", "must be a mapping, got %s", yamldoc.KindName(val))
			}
		case "prefer_labels":
		default:
			c.add(k, p+"."+k.Value, "unknown key %q (allowed in upstream's form: labels, prefer_labels)", k.Value)
		}
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		if v.Content[i+1] == sel {
			v.Content[i+1] = flat
		}
	}
}

// upstreamCheck reads an http check's url (upstream's form) into port and
// path. A full URL names the replica as localhost or 127.0.0.1 (upstream
// puts the replica's address there); a bare path is checked on the first
// endpoint's container port. Without expect_status upstream wants 200.
// It reports whether the check could be read (false: an error was added).
func (c *checker) upstreamCheck(svc, chk *yaml.Node, p string) bool {
	u := mapGet(chk, "url")
	if u == nil {
		if t := mapGet(chk, "type"); isScalar(t) && t.Value == "tcp" {
			if port := mapGet(chk, "port"); isScalar(port) && port.Value == "0" {
				// upstream's port 0: the first endpoint's.
				if ep := firstEndpointPort(svc); ep != nil {
					*port = *intNode(port, *ep)
				} else {
					c.add(port, p+".port", "port 0 means the first endpoint's port, and the service has no endpoints")
					return false
				}
			}
		}
		return true
	}
	uk := keyOf(chk, u)
	dropKey(chk, u)
	if t := mapGet(chk, "type"); !isScalar(t) || t.Value != "http" {
		c.add(uk, p+".url", "only for an http check")
		return false
	}
	if !isScalar(u) {
		c.add(u, p+".url", "must be a URL such as http://localhost:8080/health or a path such as /health")
		return false
	}
	for _, k := range []string{"port", "path"} {
		if n := mapGet(chk, k); n != nil {
			c.add(n, p+"."+k, "give url or port and path, not both")
			return false
		}
	}
	var port int
	path := u.Value
	if !strings.HasPrefix(u.Value, "/") {
		pu, err := url.Parse(u.Value)
		host := ""
		if err == nil {
			host = pu.Hostname()
		}
		switch {
		case err != nil || pu.Scheme != "http":
			c.add(u, p+".url", "must be an http:// URL or a path such as /health, got %q", u.Value)
			return false
		case host != "localhost" && host != "127.0.0.1":
			c.add(u, p+".url", "must name the replica as localhost or 127.0.0.1, got host %q", host)
			return false
		}
		port = 80
		if ps := pu.Port(); ps != "" {
			port, _ = strconv.Atoi(ps)
		}
		path = pu.EscapedPath()
		if path == "" {
			path = "/"
		}
		if pu.RawQuery != "" {
			c.add(u, p+".url", "a query is not supported in a check URL")
			return false
		}
	} else if ep := firstEndpointPort(svc); ep != nil {
		port = *ep
	} else {
		c.add(u, p+".url", "a bare path is checked on the first endpoint's port, and the service has no endpoints: give a URL such as http://localhost:8080%s", u.Value)
		return false
	}
	chk.Content = append(chk.Content, scalarNode(uk, "port"), intNode(u, port), scalarNode(uk, "path"), scalarNode(u, path))
	if mapGet(chk, "expect_status") == nil {
		chk.Content = append(chk.Content, scalarNode(uk, "expect_status"), intNode(u, 200))
	}
	return true
}

// firstEndpointPort is the container port of svc's first endpoint, as
// written (nil: none, or not a number).
func firstEndpointPort(svc *yaml.Node) *int {
	eps := mapGet(svc, "endpoints")
	if eps == nil || eps.Kind != yaml.SequenceNode || len(eps.Content) == 0 {
		return nil
	}
	ep := eps.Content[0]
	n := mapGet(ep, "target_port")
	if n == nil {
		n = mapGet(ep, "port")
	}
	if !isScalar(n) {
		return nil
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		return nil
	}
	return &v
}

// upstreamSemantic checks what the upstream keys need beyond their shape:
// node environment references, and port mappings that collide.
func (c *checker) upstreamSemantic(v *yaml.Node, p string) {
	if env := mapGet(v, "env"); env != nil && env.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(env.Content); i += 2 {
			k, ev := env.Content[i], env.Content[i+1]
			if !isScalar(ev) {
				continue
			}
			name, _ := EnvRef(ev.Value)
			if name == "" && strings.HasPrefix(ev.Value, EnvRefPrefix) {
				c.add(ev, p+".env."+k.Value, "%s needs a variable name after it", EnvRefPrefix)
				continue
			}
			if name == "" {
				continue
			}
			if err := checkEnvName(name); err != nil {
				c.add(ev, p+".env."+k.Value, "%v", err)
				continue
			}
			if c.lookupEnv != nil {
				if _, ok := c.lookupEnv(name); !ok {
					c.add(ev, p+".env."+k.Value, "environment variable %s is not set on the node (%s%s reads it when a replica starts; \"$$E:\" writes a literal \"$E:\")", name, EnvRefPrefix, name)
				}
			}
		}
	}
	if in := mapGet(v, "init"); in != nil {
		if steps := mapGet(in, "steps"); steps != nil && steps.Kind == yaml.SequenceNode {
			for j, st := range steps.Content {
				c.initStep(st, fmt.Sprintf("%s.init.steps[%d]", p, j))
			}
		}
	}
	if pm := mapGet(v, "port_mappings"); pm != nil && pm.Kind == yaml.SequenceNode {
		seen := map[string]bool{}
		for j, m := range pm.Content {
			hp := mapGet(m, "host_port")
			if hp == nil {
				c.add(m, fmt.Sprintf("%s.port_mappings[%d].host_port", p, j), "%s", notSupportedMsg("a port mapping without host_port (an ephemeral port)"))
				continue
			}
			proto := "tcp"
			if pr := mapGet(m, "protocol"); isScalar(pr) {
				proto = pr.Value
			}
			key := hp.Value + "/" + proto
			if seen[key] {
				c.add(hp, fmt.Sprintf("%s.port_mappings[%d].host_port", p, j), "another mapping of this service already uses host port %s", key)
			}
			seen[key] = true
		}
	}
}

// initStep checks an init step's parameters (with) for its action.
func (c *checker) initStep(st *yaml.Node, p string) {
	u := mapGet(st, "uses")
	if !isScalar(u) {
		return
	}
	with := mapGet(st, "with")
	params := map[string]*yaml.Node{}
	if with != nil && with.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(with.Content); i += 2 {
			params[with.Content[i].Value] = with.Content[i+1]
		}
	}
	allowed := map[string][]string{InitWaitTCP: {"host", "port"}, InitWaitHTTP: {"url", "expect_status"}}[u.Value]
	for i := 0; with != nil && with.Kind == yaml.MappingNode && i+1 < len(with.Content); i += 2 {
		if k := with.Content[i]; !slices.Contains(allowed, k.Value) {
			c.add(k, p+".with."+k.Value, "unknown key %q for %s (allowed: %s)", k.Value, u.Value, strings.Join(allowed, ", "))
		}
	}
	need := func(k string) *yaml.Node {
		n := params[k]
		if n == nil {
			at := st
			if with != nil {
				at = with
			}
			c.add(at, p+".with."+k, "required for %s", u.Value)
		}
		return n
	}
	number := func(n *yaml.Node, k string, lo, hi int) {
		if v, err := strconv.Atoi(n.Value); err != nil || v < lo || v > hi {
			c.add(n, p+".with."+k, "must be an integer from %d to %d, got %q", lo, hi, n.Value)
		}
	}
	switch u.Value {
	case InitWaitTCP:
		if h := need("host"); h != nil && strings.TrimSpace(h.Value) == "" {
			c.add(h, p+".with.host", "must not be empty")
		}
		if n := need("port"); n != nil {
			number(n, "port", 1, 65535)
		}
	case InitWaitHTTP:
		if n := need("url"); n != nil {
			if pu, err := url.Parse(n.Value); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				c.add(n, p+".with.url", "must be an http:// or https:// URL, got %q", n.Value)
			}
		}
		if n := params["expect_status"]; n != nil {
			number(n, "expect_status", 100, 599)
		}
	}
}

// NodeEnv is ParseOptions.LookupEnv for the node: its own environment.
func NodeEnv(name string) (string, bool) { return os.LookupEnv(name) }

// applyUpstreamDefaults fills in the canonical forms of the upstream keys.
func (s *Service) applyUpstreamDefaults() {
	for i, cp := range s.Capabilities {
		s.Capabilities[i] = CanonicalCapability(cp)
	}
	t := true
	for i := range s.Devices {
		d := &s.Devices[i]
		if d.Read == nil {
			d.Read = &t
		}
		if d.Write == nil {
			d.Write = &t
		}
	}
	for i := range s.PortMappings {
		m := &s.PortMappings[i]
		if m.Protocol == "" {
			m.Protocol = "tcp"
		}
		if m.HostIP == "" {
			m.HostIP = "0.0.0.0"
		}
	}
	if s.StopSignal != "" {
		if n, err := strconv.Atoi(s.StopSignal); err == nil && n >= 1 && n <= len(signalNames) {
			s.StopSignal = signalNames[n-1]
		}
	}
	if s.Scale.Mode == ScaleManual && s.Scale.Replicas == nil {
		zero := 0
		s.Scale.Replicas = &zero
	}
	for i := range s.Depends {
		if s.Depends[i].OnTimeout == "" {
			s.Depends[i].OnTimeout = OnTimeoutFail
		}
	}
	for i := range s.Init.Steps {
		st := &s.Init.Steps[i]
		if st.Timeout == 0 {
			st.Timeout = Duration(DefaultInitTimeout)
		}
		if st.OnFailure == "" {
			st.OnFailure = OnTimeoutFail
		}
	}
}

// checkUpstreamSupported reports what the node cannot honour of s's
// upstream keys on its network (bridge: s runs on the bridge).
func (s *Service) checkUpstreamSupported(name string) []string {
	var msgs []string
	if s.NetworkMode == NetworkHost {
		for _, m := range s.PortMappings {
			if m.HostPort != m.ContainerPort || m.HostIP != "0.0.0.0" {
				msgs = append(msgs, fmt.Sprintf("services.%s.port_mappings: host port %d to %d needs network_mode: bridge (a host-network replica listens on the node's ports itself)", name, m.HostPort, m.ContainerPort))
			}
		}
		if len(s.ExtraHosts) > 0 {
			msgs = append(msgs, fmt.Sprintf("services.%s.extra_hosts: needs network_mode: bridge (a host-network replica shares the node's /etc/hosts)", name))
		}
	}
	return msgs
}
