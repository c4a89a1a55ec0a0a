package spec

// The shape of a deployment spec is described once, here, and drives both the
// validator (which walks the YAML node tree so every error keeps its line and
// column) and the JSON Schema checked in as schema.json.

import "time"

type kind int

const (
	kObject kind = iota
	kString
	kInt
	kNumber // int or float
	kEnum
	kDuration
	kQuantity // memory size: 512Mi, 1G, 1048576
	kCPU      // cores: 0.5, 2, "500m"
	kStringMap
	kList
	kStringList // a list of strings, or one string
	kBool
)

type field struct {
	name     string
	s        *schema
	required bool
}

type schema struct {
	kind     kind
	desc     string
	fields   []field
	elem     *schema
	enum     []string
	min, max *int
	// minDur and maxDur bound a duration (maxDur 0: MaxDuration).
	minDur, maxDur time.Duration
	// minBytes is the least size a quantity may give.
	minBytes int64
	// rule checks a string's value (names, paths, hosts); keyRule checks the
	// keys of a string map. Each is one function shared by every field that
	// needs it.
	rule, keyRule *rule
	// shorthand, when set, is a scalar form accepted in place of the object
	// (e.g. `image: busybox` for `image: {name: busybox}`); it fills the
	// field named here.
	shorthand string
}

func ip(i int) *int { return &i }

// Floors and ceilings of durations. A health probe or a restart more often
// than every 100ms busy-loops the node without telling anything new (kubelet
// probes at most every second); a depends timeout under a second cannot see a
// replica start. Nothing is meant to wait longer than a day.
const (
	MinHealthInterval = 100 * time.Millisecond
	MinHealthTimeout  = 100 * time.Millisecond
	MinRestartDelay   = 100 * time.Millisecond
	MinDependsTimeout = time.Second
	MaxDuration       = 24 * time.Hour
	// MinMemory is the least memory limit; runc and Docker refuse less
	// than 6 MiB, where not even the runtime's own init fits.
	MinMemory = 6 << 20
	// MinTmpfsSize is one page: a tmpfs of size 0 would be unlimited.
	MinTmpfsSize = 4 << 10
	// MinCPU is 10 millicores: the kernel's smallest CFS quota (1ms) in
	// the node's 100ms period. MaxCPU keeps the quota far from overflow.
	MinCPU = 0.01
	MaxCPU = 65536
	// MaxErrors is how many problems one parse reports before "... and N more".
	MaxErrors = 100
)

func durationS(desc string, min time.Duration) *schema {
	return &schema{kind: kDuration, minDur: min, desc: desc + " Duration such as 500ms, 10s, 2m."}
}

var portS = &schema{kind: kInt, min: ip(1), max: ip(65535), desc: "TCP or UDP port."}

var nameS = func(desc string) *schema { return &schema{kind: kString, rule: nameRule, desc: desc} }

var imageS = &schema{kind: kObject, shorthand: "name", desc: "Image to run.", fields: []field{
	{name: "name", required: true, s: &schema{kind: kString, desc: "Image reference, e.g. docker.io/library/busybox:latest."}},
	{name: "pull_policy", s: &schema{kind: kEnum, enum: []string{"always", "if_not_present", "never"}, desc: "When to pull the image (default if_not_present)."}},
}}

var commandS = &schema{kind: kObject, desc: "Overrides of the image's entrypoint, arguments and working directory.", fields: []field{
	{name: "entrypoint", s: &schema{kind: kStringList, desc: "Entrypoint (replaces the image's)."}},
	{name: "args", s: &schema{kind: kStringList, desc: "Arguments (replace the image's CMD)."}},
	{name: "workdir", s: &schema{kind: kString, rule: absPathRule, desc: "Working directory (absolute)."}},
}}

var endpointS = &schema{kind: kObject, desc: "A port the service listens on.", fields: []field{
	{name: "name", required: true, s: &schema{kind: kString, desc: "Endpoint name, unique in the service."}},
	{name: "protocol", s: &schema{kind: kEnum, enum: []string{"http", "https", "tcp", "udp"}, desc: "Protocol (default http)."}},
	{name: "port", required: true, s: portS},
	{name: "target_port", s: portS},
	{name: "path", s: &schema{kind: kString, rule: urlPathRule, desc: "HTTP path prefix routed to the endpoint."}},
	{name: "host", s: &schema{kind: kString, rule: hostRule, desc: "HTTP host routed to the endpoint (a DNS name, or *.name)."}},
	{name: "expose", s: &schema{kind: kEnum, enum: []string{"public", "internal"}, desc: "Reachable from outside the node (public) or only inside (internal, default)."}},
}}

var scaleS = &schema{kind: kObject, desc: "How many replicas run.", fields: []field{
	{name: "mode", s: &schema{kind: kEnum, enum: []string{"fixed"}, desc: "Scaling mode; only fixed is supported on a single node."}},
	{name: "replicas", s: &schema{kind: kInt, min: ip(0), max: ip(1000), desc: "Replica count (default 1)."}},
}}

var checkS = &schema{kind: kObject, desc: "Health check: tcp connect, http GET, or a command run in the replica.", fields: []field{
	{name: "type", required: true, s: &schema{kind: kEnum, enum: []string{"tcp", "http", "command"}, desc: "Check type."}},
	{name: "port", s: portS},
	{name: "path", s: &schema{kind: kString, rule: urlPathRule, desc: "HTTP path (default /)."}},
	{name: "expect_status", s: &schema{kind: kInt, min: ip(100), max: ip(599), desc: "Expected HTTP status (default: any 2xx or 3xx)."}},
	{name: "command", s: &schema{kind: kStringList, desc: "Command; a single string runs through /bin/sh -c."}},
}}

var healthS = &schema{kind: kObject, desc: "Readiness gating by a health check.", fields: []field{
	{name: "start_grace", s: durationS("Time after start during which failed checks do not count.", 0)},
	{name: "interval", s: durationS("Time between checks (default 10s, at least 100ms).", MinHealthInterval)},
	{name: "timeout", s: durationS("Time a check may take (default 5s, at least 100ms).", MinHealthTimeout)},
	{name: "retries", s: &schema{kind: kInt, min: ip(1), max: ip(100), desc: "Consecutive failures before the replica is unhealthy (default 3)."}},
	{name: "check", required: true, s: checkS},
}}

var restartS = &schema{kind: kObject, desc: "What happens when a replica's process exits.", fields: []field{
	{name: "kind", required: true, s: &schema{kind: kEnum, enum: []string{"no", "always", "on_failure", "unless_stopped"}, desc: "Restart policy (default always)."}},
	{name: "max_attempts", s: &schema{kind: kInt, min: ip(0), max: ip(1000000), desc: "Give up after this many restarts (0: never give up)."}},
	{name: "delay", s: durationS("First delay before a restart, doubled on each quick failure up to 60s (default 1s, at least 100ms).", MinRestartDelay)},
}}

var dependS = &schema{kind: kObject, desc: "A service that must be started or healthy first.", fields: []field{
	{name: "service", required: true, s: nameS("Service name in this deployment.")},
	{name: "condition", s: &schema{kind: kEnum, enum: []string{"started", "healthy"}, desc: "Wait until it is started or healthy (default healthy)."}},
	{name: "timeout", s: durationS("How long to wait before reporting the wait as timed out (default 5m, at least 1s).", MinDependsTimeout)},
}}

var resourcesS = &schema{kind: kObject, desc: "Resource limits.", fields: []field{
	{name: "cpu", s: &schema{kind: kCPU, desc: "CPU limit in cores: 0.5, 2 or \"500m\" (at least 10m)."}},
	{name: "memory", s: &schema{kind: kQuantity, minBytes: MinMemory, desc: "Memory limit: 256Mi, 1Gi, 512M or bytes (at least 6Mi)."}},
}}

var storageS = &schema{kind: kObject, desc: "A mount: bind (host path), named (node volume) or tmpfs.", fields: []field{
	{name: "type", required: true, s: &schema{kind: kEnum, enum: []string{"bind", "named", "tmpfs"}, desc: "Mount type."}},
	{name: "source", s: &schema{kind: kString, rule: absPathRule, desc: "Absolute host path (bind)."}},
	{name: "name", s: nameS("Volume name (named): lowercase letters and digits, single '-' between them, up to 40 characters.")},
	{name: "target", required: true, s: &schema{kind: kString, rule: absPathRule, desc: "Absolute path in the container."}},
	{name: "readonly", s: &schema{kind: kBool, desc: "Mount read-only."}},
	{name: "size", s: &schema{kind: kQuantity, minBytes: MinTmpfsSize, desc: "tmpfs size limit (at least 4Ki)."}},
}}

var serviceS = &schema{kind: kObject, desc: "A service: a set of identical replicas.", fields: []field{
	{name: "image", required: true, s: imageS},
	{name: "command", s: commandS},
	{name: "env", s: &schema{kind: kStringMap, keyRule: envNameRule, desc: "Environment variables."}},
	{name: "endpoints", s: &schema{kind: kList, elem: endpointS, desc: "Ports the service listens on."}},
	{name: "scale", s: scaleS},
	{name: "health", s: healthS},
	{name: "restart_policy", s: restartS},
	{name: "depends", s: &schema{kind: kList, elem: dependS, desc: "Services to wait for."}},
	{name: "resources", s: resourcesS},
	{name: "storage", s: &schema{kind: kList, elem: storageS, desc: "Mounts."}},
	{name: "network_mode", s: &schema{kind: kEnum, enum: []string{"host", "bridge"}, desc: "host shares the node's network; bridge needs node networking (default host on a node without it)."}},
	{name: "labels", s: &schema{kind: kStringMap, keyRule: labelKeyRule, desc: "Container labels; keys starting with zlayer. are reserved for the node."}},
}}

var rootS = &schema{kind: kObject, desc: "ZLayer deployment spec (v1).", fields: []field{
	{name: "version", required: true, s: &schema{kind: kEnum, enum: []string{"v1"}, desc: "Spec version."}},
	{name: "deployment", required: true, s: nameS("Deployment name: lowercase letters and digits, single '-' between them, up to 40 characters.")},
	{name: "services", required: true, s: &schema{kind: kStringMap, elem: serviceS, keyRule: nameRule, desc: "Services by name: lowercase letters and digits, single '-' between them, up to 40 characters."}},
}}
