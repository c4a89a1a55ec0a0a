package spec

// The shape of a deployment spec is described once, here, and drives both the
// validator (which walks the YAML node tree so every error keeps its line and
// column) and the JSON Schema checked in as schema.json.

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
	// shorthand, when set, is a scalar form accepted in place of the object
	// (e.g. `image: busybox` for `image: {name: busybox}`); it fills the
	// field named here.
	shorthand string
}

func ip(i int) *int { return &i }

var durationS = &schema{kind: kDuration, desc: "Duration such as 500ms, 10s, 2m."}

var portS = &schema{kind: kInt, min: ip(1), max: ip(65535), desc: "TCP or UDP port."}

var imageS = &schema{kind: kObject, shorthand: "name", desc: "Image to run.", fields: []field{
	{name: "name", required: true, s: &schema{kind: kString, desc: "Image reference, e.g. docker.io/library/busybox:latest."}},
	{name: "pull_policy", s: &schema{kind: kEnum, enum: []string{"always", "if_not_present", "never"}, desc: "When to pull the image (default if_not_present)."}},
}}

var commandS = &schema{kind: kObject, desc: "Overrides of the image's entrypoint, arguments and working directory.", fields: []field{
	{name: "entrypoint", s: &schema{kind: kStringList, desc: "Entrypoint (replaces the image's)."}},
	{name: "args", s: &schema{kind: kStringList, desc: "Arguments (replace the image's CMD)."}},
	{name: "workdir", s: &schema{kind: kString, desc: "Working directory."}},
}}

var endpointS = &schema{kind: kObject, desc: "A port the service listens on.", fields: []field{
	{name: "name", required: true, s: &schema{kind: kString, desc: "Endpoint name, unique in the service."}},
	{name: "protocol", s: &schema{kind: kEnum, enum: []string{"http", "https", "tcp", "udp"}, desc: "Protocol (default http)."}},
	{name: "port", required: true, s: portS},
	{name: "target_port", s: portS},
	{name: "path", s: &schema{kind: kString, desc: "HTTP path prefix routed to the endpoint."}},
	{name: "host", s: &schema{kind: kString, desc: "HTTP host routed to the endpoint."}},
	{name: "expose", s: &schema{kind: kEnum, enum: []string{"public", "internal"}, desc: "Reachable from outside the node (public) or only inside (internal, default)."}},
}}

var scaleS = &schema{kind: kObject, desc: "How many replicas run.", fields: []field{
	{name: "mode", s: &schema{kind: kEnum, enum: []string{"fixed"}, desc: "Scaling mode; only fixed is supported on a single node."}},
	{name: "replicas", s: &schema{kind: kInt, min: ip(0), max: ip(1000), desc: "Replica count (default 1)."}},
}}

var checkS = &schema{kind: kObject, desc: "Health check: tcp connect, http GET, or a command run in the replica.", fields: []field{
	{name: "type", required: true, s: &schema{kind: kEnum, enum: []string{"tcp", "http", "command"}, desc: "Check type."}},
	{name: "port", s: portS},
	{name: "path", s: &schema{kind: kString, desc: "HTTP path (default /)."}},
	{name: "expect_status", s: &schema{kind: kInt, min: ip(100), max: ip(599), desc: "Expected HTTP status (default: any 2xx or 3xx)."}},
	{name: "command", s: &schema{kind: kStringList, desc: "Command; a single string runs through /bin/sh -c."}},
}}

var healthS = &schema{kind: kObject, desc: "Readiness gating by a health check.", fields: []field{
	{name: "start_grace", s: durationS},
	{name: "interval", s: durationS},
	{name: "timeout", s: durationS},
	{name: "retries", s: &schema{kind: kInt, min: ip(1), max: ip(100), desc: "Consecutive failures before the replica is unhealthy (default 3)."}},
	{name: "check", required: true, s: checkS},
}}

var restartS = &schema{kind: kObject, desc: "What happens when a replica's process exits.", fields: []field{
	{name: "kind", required: true, s: &schema{kind: kEnum, enum: []string{"no", "always", "on_failure", "unless_stopped"}, desc: "Restart policy (default always)."}},
	{name: "max_attempts", s: &schema{kind: kInt, min: ip(0), desc: "Give up after this many restarts (0: never give up)."}},
	{name: "delay", s: durationS},
}}

var dependS = &schema{kind: kObject, desc: "A service that must be started or healthy first.", fields: []field{
	{name: "service", required: true, s: &schema{kind: kString, desc: "Service name in this deployment."}},
	{name: "condition", s: &schema{kind: kEnum, enum: []string{"started", "healthy"}, desc: "Wait until it is started or healthy (default healthy)."}},
	{name: "timeout", s: durationS},
}}

var resourcesS = &schema{kind: kObject, desc: "Resource limits.", fields: []field{
	{name: "cpu", s: &schema{kind: kCPU, desc: "CPU limit in cores: 0.5, 2 or \"500m\"."}},
	{name: "memory", s: &schema{kind: kQuantity, desc: "Memory limit: 256Mi, 1Gi, 512M or bytes."}},
}}

var storageS = &schema{kind: kObject, desc: "A mount: bind (host path), named (node volume) or tmpfs.", fields: []field{
	{name: "type", required: true, s: &schema{kind: kEnum, enum: []string{"bind", "named", "tmpfs"}, desc: "Mount type."}},
	{name: "source", s: &schema{kind: kString, desc: "Host path (bind)."}},
	{name: "name", s: &schema{kind: kString, desc: "Volume name (named)."}},
	{name: "target", required: true, s: &schema{kind: kString, desc: "Absolute path in the container."}},
	{name: "readonly", s: &schema{kind: kBool, desc: "Mount read-only."}},
	{name: "size", s: &schema{kind: kQuantity, desc: "tmpfs size limit."}},
}}

var serviceS = &schema{kind: kObject, desc: "A service: a set of identical replicas.", fields: []field{
	{name: "image", required: true, s: imageS},
	{name: "command", s: commandS},
	{name: "env", s: &schema{kind: kStringMap, desc: "Environment variables."}},
	{name: "endpoints", s: &schema{kind: kList, elem: endpointS, desc: "Ports the service listens on."}},
	{name: "scale", s: scaleS},
	{name: "health", s: healthS},
	{name: "restart_policy", s: restartS},
	{name: "depends", s: &schema{kind: kList, elem: dependS, desc: "Services to wait for."}},
	{name: "resources", s: resourcesS},
	{name: "storage", s: &schema{kind: kList, elem: storageS, desc: "Mounts."}},
	{name: "network_mode", s: &schema{kind: kEnum, enum: []string{"host", "bridge"}, desc: "host shares the node's network; bridge needs node networking (default host on a node without it)."}},
	{name: "labels", s: &schema{kind: kStringMap, desc: "Container labels."}},
}}

var rootS = &schema{kind: kObject, desc: "ZLayer deployment spec (v1).", fields: []field{
	{name: "version", required: true, s: &schema{kind: kEnum, enum: []string{"v1"}, desc: "Spec version."}},
	{name: "deployment", required: true, s: &schema{kind: kString, desc: "Deployment name: lowercase letters, digits and '-', up to 40 characters."}},
	{name: "services", required: true, s: &schema{kind: kStringMap, elem: serviceS, desc: "Services by name."}},
}}
