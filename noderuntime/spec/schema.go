package spec

// The shape of a deployment spec as the validator walks it: the YAML node
// tree is checked against it so every error keeps its line and column. The
// JSON Schema (schema.json) is generated from the Go types' tags instead;
// TestSchemaAgreesWithValidator holds the two to the same keys, required
// keys, enums, bounds and patterns, and the descriptions live only in the
// tags.

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
	// valueRule checks the values of a string map without elem, and
	// maxKeys (when not 0) bounds how many pairs it has.
	valueRule *rule
	maxKeys   int
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
	// MaxStopGracePeriod bounds stop_grace_period: a down or a rollout
	// waits that long per replica, and an hour is already past any drain
	// worth waiting for.
	MaxStopGracePeriod = time.Hour
	// MinMonitor is the least update.monitor: a replica cannot be created,
	// started and checked in less.
	MinMonitor = time.Second
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

func durationS(min time.Duration) *schema {
	return &schema{kind: kDuration, minDur: min}
}

var portS = &schema{kind: kInt, min: ip(1), max: ip(65535)}

var nameS = func() *schema { return &schema{kind: kString, rule: nameRule} }

var imageS = &schema{kind: kObject, shorthand: "name", fields: []field{
	{name: "name", required: true, s: &schema{kind: kString}},
	{name: "pull_policy", s: &schema{kind: kEnum, enum: []string{"always", "newer", "if_not_present", "never"}}},
}}

var commandS = &schema{kind: kObject, fields: []field{
	{name: "entrypoint", s: &schema{kind: kStringList}},
	{name: "args", s: &schema{kind: kStringList}},
	{name: "workdir", s: &schema{kind: kString, rule: absPathRule}},
}}

var endpointS = &schema{kind: kObject, fields: []field{
	{name: "name", required: true, s: &schema{kind: kString}},
	{name: "protocol", s: &schema{kind: kEnum, enum: []string{"http", "https", "tcp", "udp"}}},
	{name: "port", required: true, s: portS},
	{name: "target_port", s: portS},
	{name: "path", s: &schema{kind: kString, rule: urlPathRule}},
	{name: "host", s: &schema{kind: kString, rule: hostRule}},
	{name: "expose", s: &schema{kind: kEnum, enum: []string{"public", "internal"}}},
}}

var scaleS = &schema{kind: kObject, fields: []field{
	{name: "mode", s: &schema{kind: kEnum, enum: []string{"fixed", "manual"}}},
	{name: "replicas", s: &schema{kind: kInt, min: ip(0), max: ip(1000)}},
}}

var checkS = &schema{kind: kObject, fields: []field{
	{name: "type", required: true, s: &schema{kind: kEnum, enum: []string{"tcp", "http", "command"}}},
	{name: "port", s: portS},
	{name: "path", s: &schema{kind: kString, rule: urlPathRule}},
	{name: "expect_status", s: &schema{kind: kInt, min: ip(100), max: ip(599)}},
	{name: "command", s: &schema{kind: kStringList}},
	{name: "url", s: &schema{kind: kString}},
}}

var healthS = &schema{kind: kObject, fields: []field{
	{name: "start_grace", s: durationS(0)},
	{name: "interval", s: durationS(MinHealthInterval)},
	{name: "timeout", s: durationS(MinHealthTimeout)},
	{name: "retries", s: &schema{kind: kInt, min: ip(1), max: ip(100)}},
	{name: "check", required: true, s: checkS},
}}

var restartS = &schema{kind: kObject, fields: []field{
	{name: "kind", required: true, s: &schema{kind: kEnum, enum: []string{"no", "always", "on_failure", "unless_stopped"}}},
	{name: "max_attempts", s: &schema{kind: kInt, min: ip(0), max: ip(1000000)}},
	{name: "delay", s: durationS(MinRestartDelay)},
}}

var dependS = &schema{kind: kObject, fields: []field{
	{name: "service", required: true, s: nameS()},
	{name: "condition", s: &schema{kind: kEnum, enum: []string{"started", "healthy", "completed"}}},
	{name: "timeout", s: durationS(MinDependsTimeout)},
	{name: "on_timeout", s: &schema{kind: kEnum, enum: []string{"fail", "warn", "continue"}}},
}}

var resourcesS = &schema{kind: kObject, fields: []field{
	{name: "cpu", s: &schema{kind: kCPU}},
	{name: "memory", s: &schema{kind: kQuantity, minBytes: MinMemory}},
}}

var storageS = &schema{kind: kObject, fields: []field{
	{name: "type", required: true, s: &schema{kind: kEnum, enum: []string{"bind", "named", "tmpfs"}}},
	{name: "source", s: &schema{kind: kString, rule: absPathRule}},
	{name: "name", s: nameS()},
	{name: "target", required: true, s: &schema{kind: kString, rule: absPathRule}},
	{name: "readonly", s: &schema{kind: kBool}},
	{name: "size", s: &schema{kind: kQuantity, minBytes: MinTmpfsSize}},
}}

var updateS = &schema{kind: kObject, fields: []field{
	{name: "parallelism", s: &schema{kind: kInt, min: ip(1), max: ip(1000)}},
	{name: "max_surge", s: &schema{kind: kInt, min: ip(0), max: ip(1000)}},
	{name: "order", s: &schema{kind: kEnum, enum: []string{"start-first", "stop-first"}}},
	{name: "failure_action", s: &schema{kind: kEnum, enum: []string{"pause", "rollback"}}},
	{name: "monitor", s: durationS(MinMonitor)},
}}

var secretMountS = &schema{kind: kObject, fields: []field{
	{name: "name", required: true, s: nameS()},
	{name: "target", s: &schema{kind: kString, rule: absPathRule}},
	{name: "mode", s: &schema{kind: kInt, min: ip(0), max: ip(0o777)}},
	{name: "uid", s: &schema{kind: kInt, min: ip(0), max: ip(1<<31 - 1)}},
}}

var serviceS = &schema{kind: kObject, fields: append([]field{
	{name: "image", required: true, s: imageS},
	{name: "command", s: commandS},
	{name: "env", s: &schema{kind: kStringMap, keyRule: envNameRule}},
	{name: "endpoints", s: &schema{kind: kList, elem: endpointS}},
	{name: "scale", s: scaleS},
	{name: "health", s: healthS},
	{name: "restart_policy", s: restartS},
	{name: "depends", s: &schema{kind: kList, elem: dependS}},
	{name: "resources", s: resourcesS},
	{name: "storage", s: &schema{kind: kList, elem: storageS}},
	{name: "network_mode", s: &schema{kind: kEnum, enum: []string{"host", "bridge"}}},
	{name: "labels", s: &schema{kind: kStringMap, keyRule: labelKeyRule}},
	{name: "node_selector", s: &schema{kind: kStringMap, keyRule: nodeLabelKeyRule, valueRule: nodeLabelValueRule, maxKeys: MaxNodeSelector}},
	{name: "stop_signal", s: &schema{kind: kString, rule: signalRule}},
	{name: "stop_grace_period", s: &schema{kind: kDuration, maxDur: MaxStopGracePeriod}},
	{name: "update", s: updateS},
	{name: "secrets", s: &schema{kind: kList, elem: secretMountS}},
	{name: "rtype", s: &schema{kind: kEnum, enum: []string{"service", "job", "cron"}}},
	{name: "schedule", s: &schema{kind: kString, rule: scheduleRule}},
	{name: "concurrency", s: &schema{kind: kEnum, enum: []string{"forbid", "allow", "replace"}}},
	{name: "history", s: &schema{kind: kInt, min: ip(1), max: ip(MaxHistory)}},
}, upstreamServiceFields...)}

var rootS = &schema{kind: kObject, fields: []field{
	{name: "version", required: true, s: &schema{kind: kEnum, enum: []string{"v1"}}},
	{name: "deployment", required: true, s: nameS()},
	{name: "services", required: true, s: &schema{kind: kStringMap, elem: serviceS, keyRule: nameRule}},
}}
