// Package spec reads ZLayer deployment specs (version v1): it validates the
// YAML against one shape description, reporting every problem with its file,
// line and column, then decodes it into typed values with defaults applied.
package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/zlayer/zlayer/internal/yamldoc"
)

// Deployment is a validated spec.
type Deployment struct {
	Version    string              `json:"version" yaml:"version" required:"true" enum:"v1" doc:"Spec version."`
	Deployment string              `json:"deployment" yaml:"deployment" required:"true" schema:"name" doc:"Deployment name: lowercase letters and digits, single '-' between them, up to 40 characters."`
	Services   map[string]*Service `json:"services" yaml:"services" required:"true" keys:"name" doc:"Services by name: lowercase letters and digits, single '-' between them, up to 40 characters."`
	// Order lists the services in the order the file wrote them.
	Order []string `json:"order,omitempty" yaml:"-"`
}

type Service struct {
	Image         Image             `json:"image" yaml:"image" required:"true" doc:"Image to run: a reference, or {name, pull_policy}."`
	Command       Command           `json:"command,omitzero" yaml:"command" doc:"Overrides of the image's entrypoint, arguments and working directory."`
	Env           map[string]string `json:"env,omitempty" yaml:"env" keys:"envname" doc:"Environment variables."`
	Endpoints     []Endpoint        `json:"endpoints,omitempty" yaml:"endpoints" doc:"Ports the service listens on."`
	Scale         Scale             `json:"scale" yaml:"scale" doc:"How many replicas run."`
	Health        *Health           `json:"health,omitempty" yaml:"health" doc:"Readiness gating by a health check: tcp connect, http GET, or a command run in the replica."`
	RestartPolicy RestartPolicy     `json:"restart_policy" yaml:"restart_policy" doc:"What happens when a replica's process exits."`
	Depends       []Depend          `json:"depends,omitempty" yaml:"depends" doc:"Services that must be started or healthy first."`
	Resources     Resources         `json:"resources,omitzero" yaml:"resources" doc:"Resource limits."`
	Storage       []Storage         `json:"storage,omitempty" yaml:"storage" doc:"Mounts: bind (host path), named (node volume) or tmpfs."`
	NetworkMode   NetworkMode       `json:"network_mode" yaml:"network_mode" enum:"host,bridge" doc:"host shares the node's network; bridge needs node networking (default host on a node without it)."`
	Labels        map[string]string `json:"labels,omitempty" yaml:"labels" keys:"labelkey" doc:"Container labels; keys starting with zlayer. are reserved for the node."`
	// NodeSelector decides where a replica runs, not what it runs: it is
	// not in Hash, and changing it moves replicas without rolling them.
	NodeSelector NodeSelector `json:"node_selector,omitempty" yaml:"node_selector" doc:"Cluster mode: run only on nodes carrying every one of these labels (zlayer serve/join --node-label k=v). A single node ignores it."`
	// StopSignal and StopGracePeriod are read when a replica is stopped,
	// not when its container is made, so they are not in Hash: changing
	// them rolls nothing and applies to the next stop (as compose leaves
	// running containers alone for stop_grace_period).
	StopSignal      string    `json:"stop_signal,omitempty" yaml:"stop_signal" schema:"signal" doc:"Signal that asks a replica to stop, e.g. SIGTERM, SIGQUIT, INT (default SIGTERM)."`
	StopGracePeriod *Duration `json:"stop_grace_period,omitempty" yaml:"stop_grace_period" doc:"Time between the stop signal and SIGKILL, at most 1h; 0s sends SIGKILL right after the signal (default: the node's --stop-timeout)."`
	// Update says how a changed service rolls, not what it runs: it is
	// not in Hash, so editing it alone rolls nothing.
	Update Update `json:"update,omitzero" yaml:"update" doc:"How replicas of a changed spec replace the running ones: how many at a time, in which order, and what a replacement that never gets ready leads to."`
	// Restart is bumped by zlayer restart and kept across deploys; it is
	// in Hash (when not 0), so bumping it rolls every replica of the
	// service by its update policy. It is the node's, never the file's.
	Restart int `json:"restart,omitempty" yaml:"-"`
	// Secrets are files made from the node's secrets; values never enter
	// the spec, only names.
	Secrets []SecretMount `json:"secrets,omitempty" yaml:"secrets" doc:"Node secrets (zlayer secret create) mounted read-only as files from a node-private tmpfs. Env values \"$S:NAME\" take a secret's value instead (\"$$S:\" for a literal \"$S:\")."`
	// SecretVersions are the versions of the secrets the service uses,
	// filled in by the node at deploy and when a value changes: they are
	// in Hash, so a new value rolls the service while the value itself
	// stays out of the spec, the store and the replicas' labels.
	SecretVersions map[string]int64 `json:"secret_versions,omitempty" yaml:"-"`
	// Rtype, Schedule, Concurrency and History make a job or a cron
	// service (jobs.go). Rtype and Schedule are in Hash; Concurrency and
	// History are the node's business and roll nothing.
	Rtype       Rtype       `json:"rtype,omitempty" yaml:"rtype" enum:"service,job,cron" doc:"service runs for ever; job runs to completion once per version of its spec; cron runs to completion on every tick of its schedule (default service)."`
	Schedule    string      `json:"schedule,omitempty" yaml:"schedule" doc:"rtype cron: when runs start, in cron syntax (minute hour day-of-month month day-of-week, such as \"*/5 * * * *\", or @hourly, @daily, @every 10m; or upstream ZLayer's form, seconds first and an optional year last, such as \"0 0 3 * * * *\", with one second and any year), in the node's time zone; at most once a minute."`
	Concurrency Concurrency `json:"concurrency,omitempty" yaml:"concurrency" enum:"forbid,allow,replace" doc:"rtype cron: what a tick does while a run still runs: forbid skips it (recorded as skipped), replace stops the running run, allow runs beside it up to history runs at once (default forbid)."`
	History     int         `json:"history,omitempty" yaml:"history" minimum:"1" maximum:"100" doc:"rtype job or cron: how many runs are kept (start, end, exit code and logs), the oldest finished ones going first (default 5)."`
	// ContainerOptions are upstream ZLayer's container settings (upstream.go).
	ContainerOptions `yaml:",inline"`
}

// SecretMount is one entry of a service's secrets.
type SecretMount struct {
	Name   string `json:"name" yaml:"name" required:"true" schema:"name" doc:"Secret name, as given to zlayer secret create."`
	Target string `json:"target,omitempty" yaml:"target" schema:"abspath" doc:"Absolute path of the file in the container (default /run/secrets/NAME)."`
	Mode   *int   `json:"mode,omitempty" yaml:"mode" minimum:"0" maximum:"511" doc:"File mode, written in octal such as 0400 (default 0400)."`
	UID    int    `json:"uid,omitempty" yaml:"uid" minimum:"0" maximum:"2147483647" doc:"Owner of the file (default 0)."`
}

// SecretsDir is where file secrets go when their target is not given.
const SecretsDir = "/run/secrets"

// DefaultSecretMode is a file secret's mode when the spec does not say.
const DefaultSecretMode = 0o400

// Path is where m is mounted in the container.
func (m SecretMount) Path() string {
	if m.Target != "" {
		return m.Target
	}
	return SecretsDir + "/" + m.Name
}

// FileMode is m's file mode, default filled in.
func (m SecretMount) FileMode() int {
	if m.Mode == nil {
		return DefaultSecretMode
	}
	return *m.Mode
}

// SecretEnvPrefix marks an env value taken from a secret ("$S:NAME", as
// upstream ZLayer writes it); "$$S:" escapes it.
const SecretEnvPrefix = "$S:"

// EnvSecret reads an env value: the secret it names (secret set), or the
// literal value to give the process, with a "$$S:" escape undone.
func EnvSecret(v string) (secret, literal string) { return cutRef(v, SecretEnvPrefix) }

// SecretNames are the secrets s uses, as files or env, sorted, once each.
func (s *Service) SecretNames() []string {
	seen := map[string]bool{}
	for _, m := range s.Secrets {
		seen[m.Name] = true
	}
	for _, v := range s.Env {
		if n, _ := EnvSecret(v); n != "" {
			seen[n] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// SecretNames are the secrets d's services use, sorted, once each.
func (d *Deployment) SecretNames() []string {
	seen := map[string]bool{}
	for _, s := range d.Services {
		for _, n := range s.SecretNames() {
			seen[n] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// SetSecretVersions records, in every service that uses them, the
// versions of the secrets it uses (versions by name); it reports whether
// any service's versions changed.
func (d *Deployment) SetSecretVersions(versions map[string]int64) bool {
	changed := false
	for _, s := range d.Services {
		names := s.SecretNames()
		if len(names) == 0 {
			if s.SecretVersions != nil {
				s.SecretVersions, changed = nil, true
			}
			continue
		}
		m := make(map[string]int64, len(names))
		for _, n := range names {
			m[n] = versions[n]
			if s.SecretVersions[n] != m[n] {
				changed = true
			}
		}
		if len(s.SecretVersions) != len(m) {
			changed = true
		}
		s.SecretVersions = m
	}
	return changed
}

// Update is a service's rollout policy.
type Update struct {
	Parallelism   int           `json:"parallelism,omitempty" yaml:"parallelism" minimum:"1" maximum:"1000" doc:"Replicas replaced at a time (default 1)."`
	MaxSurge      *int          `json:"max_surge,omitempty" yaml:"max_surge" minimum:"0" maximum:"1000" doc:"start-first only: how many replicas beyond the count may run while rolling (default: parallelism); replacements past it stop the old replica first."`
	Order         UpdateOrder   `json:"order,omitempty" yaml:"order" enum:"start-first,stop-first" doc:"start-first starts the new replica before stopping the old one; stop-first frees the old one's resources first (default start-first, but stop-first for host-network services with endpoints, whose ports cannot overlap)."`
	FailureAction FailureAction `json:"failure_action,omitempty" yaml:"failure_action" enum:"pause,rollback" doc:"What a replacement that is not ready within monitor leads to: pause stops the rollout where it is, rollback re-applies the previous generation (default pause)."`
	Monitor       Duration      `json:"monitor,omitempty" yaml:"monitor" doc:"How long a new replica has to become ready (healthy, if it has a check) before the rollout fails, at least 1s (default 30s)."`
}

// UpdateOrder is update.order.
type UpdateOrder string

const (
	StartFirst UpdateOrder = "start-first"
	StopFirst  UpdateOrder = "stop-first"
)

// FailureAction is update.failure_action.
type FailureAction string

const (
	FailurePause    FailureAction = "pause"
	FailureRollback FailureAction = "rollback"
)

// DefaultMonitor is how long a replacement has to get ready when the spec
// does not say: long enough for a health check's first few rounds (10s
// interval by default), short enough that a broken image is noticed while
// someone is still watching the deploy.
const DefaultMonitor = 30 * time.Second

// Policy is the rollout policy s rolls by, defaults filled in: the
// order, the replicas replaced at a time, how many of those may surge
// (start-first; 0 under stop-first) and the monitor window.
func (s *Service) Policy() (order UpdateOrder, parallelism, surge int, monitor time.Duration, action FailureAction) {
	u := s.Update
	order = u.Order
	if order == "" {
		order = StartFirst
		// Host-network replicas with ports cannot overlap: the old one
		// must free its port before the new one binds it.
		if s.NetworkMode == NetworkHost && len(s.Endpoints) > 0 {
			order = StopFirst
		}
	}
	parallelism = max(u.Parallelism, 1)
	surge = parallelism
	if u.MaxSurge != nil {
		surge = min(*u.MaxSurge, parallelism)
	}
	if order == StopFirst {
		surge = 0
	}
	monitor = u.Monitor.D()
	if monitor <= 0 {
		monitor = DefaultMonitor
	}
	action = u.FailureAction
	if action == "" {
		action = FailurePause
	}
	return order, parallelism, surge, monitor, action
}

// NodeSelector is a service's node_selector: label name to value, every
// pair to be matched by a node's labels (see CheckNodeLabelKey and
// CheckNodeLabelValue for their form).
type NodeSelector map[string]string

type Image struct {
	Name       string     `json:"name" yaml:"name" required:"true" doc:"Image reference, e.g. docker.io/library/busybox:latest."`
	PullPolicy PullPolicy `json:"pull_policy" yaml:"pull_policy" enum:"always,newer,if_not_present,never" doc:"When to pull the image: always, newer (when the registry has another digest than the node), if_not_present (default) or never."`
}

// UnmarshalYAML accepts `image: REF` as a shorthand for `image: {name: REF}`.
func (i *Image) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		i.Name = n.Value
		return nil
	}
	type plain Image
	return n.Decode((*plain)(i))
}

type Command struct {
	Entrypoint StringList `json:"entrypoint,omitempty" yaml:"entrypoint" doc:"Entrypoint (replaces the image's)."`
	Args       StringList `json:"args,omitempty" yaml:"args" doc:"Arguments (replace the image's CMD)."`
	Workdir    string     `json:"workdir,omitempty" yaml:"workdir" schema:"abspath" doc:"Working directory (absolute)."`
}

// StringList is a list of strings that YAML may also give as one string.
type StringList []string

func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = StringList{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

type Endpoint struct {
	Name       string `json:"name" yaml:"name" required:"true" doc:"Endpoint name, unique in the service."`
	Protocol   string `json:"protocol" yaml:"protocol" enum:"http,https,tcp,udp" doc:"Protocol (default http)."`
	Port       int    `json:"port" yaml:"port" required:"true" minimum:"1" maximum:"65535" doc:"TCP or UDP port."`
	TargetPort int    `json:"target_port" yaml:"target_port" minimum:"1" maximum:"65535" doc:"Port in the container (default: port)."`
	Path       string `json:"path,omitempty" yaml:"path" schema:"urlpath" doc:"HTTP path prefix routed to the endpoint."`
	Host       string `json:"host,omitempty" yaml:"host" schema:"host" doc:"HTTP host routed to the endpoint (a DNS name, or *.name)."`
	Expose     string `json:"expose" yaml:"expose" enum:"public,internal" doc:"Reachable from outside the node (public) or only inside (internal, default)."`
}

type Scale struct {
	Mode     string `json:"mode" yaml:"mode" enum:"fixed,manual" doc:"fixed (default) runs replicas; manual starts with replicas (default 0) and then keeps the count zlayer scale sets across deploys. Upstream's adaptive is not supported by this node."`
	Replicas *int   `json:"replicas" yaml:"replicas" minimum:"0" maximum:"1000" doc:"Replica count (default 1)."`
}

// Count is the replica count.
func (s Scale) Count() int {
	if s.Replicas == nil {
		return 1
	}
	return *s.Replicas
}

type Health struct {
	StartGrace Duration `json:"start_grace" yaml:"start_grace" doc:"Time after start during which failed checks do not count."`
	Interval   Duration `json:"interval" yaml:"interval" doc:"Time between checks (default 10s, at least 100ms)."`
	Timeout    Duration `json:"timeout" yaml:"timeout" doc:"Time a check may take (default 5s, at least 100ms)."`
	Retries    int      `json:"retries" yaml:"retries" minimum:"1" maximum:"100" doc:"Consecutive failures before the replica is unhealthy (default 3)."`
	Check      Check    `json:"check" yaml:"check" required:"true" doc:"Health check: tcp connect, http GET, or a command run in the replica."`
}

type Check struct {
	Type         string     `json:"type" yaml:"type" required:"true" enum:"tcp,http,command" doc:"Check type."`
	Port         int        `json:"port,omitempty" yaml:"port" minimum:"1" maximum:"65535" doc:"Port to check (tcp and http checks)."`
	Path         string     `json:"path,omitempty" yaml:"path" schema:"urlpath" doc:"HTTP path (default /)."`
	ExpectStatus int        `json:"expect_status,omitempty" yaml:"expect_status" minimum:"100" maximum:"599" doc:"Expected HTTP status (default: any 2xx or 3xx)."`
	Command      StringList `json:"command,omitempty" yaml:"command" doc:"Command; a single string runs through /bin/sh -c."`
	// URL is upstream ZLayer's form of port and path: the parser reads it
	// into them, so it is always empty after parsing.
	URL string `json:"url,omitempty" yaml:"-" key:"url" doc:"http check, upstream's form: http://localhost:PORT/PATH (the replica's address stands for localhost), or a bare /PATH on the first endpoint's container port; read into port and path, with expect_status 200 unless given."`
}

type RestartPolicy struct {
	Kind        RestartKind `json:"kind" yaml:"kind" required:"true" enum:"no,always,on_failure,unless_stopped" doc:"Restart policy (default always)."`
	MaxAttempts int         `json:"max_attempts" yaml:"max_attempts" minimum:"0" maximum:"1000000" doc:"Give up after this many restarts (0: never give up)."`
	Delay       Duration    `json:"delay" yaml:"delay" doc:"First delay before a restart, doubled on each quick failure up to 60s (default 1s, at least 100ms)."`
}

type Depend struct {
	Service   string           `json:"service" yaml:"service" required:"true" schema:"name" doc:"Service name in this deployment."`
	Condition DependsCondition `json:"condition" yaml:"condition" enum:"started,healthy,completed" doc:"Wait until it is started or healthy (default healthy); for a job or cron dependency, healthy and completed wait for its run to succeed."`
	Timeout   Duration         `json:"timeout" yaml:"timeout" doc:"How long to wait before reporting the wait as timed out (default 5m, at least 1s)."`
	OnTimeout string           `json:"on_timeout,omitempty" yaml:"on_timeout" enum:"fail,warn,continue" doc:"After the timeout: fail keeps the service waiting, reported as timed out (default); warn starts it and says so in its status; continue starts it."`
}

type Resources struct {
	CPU    float64 `json:"cpu,omitempty" yaml:"-" key:"cpu" schema:"cpu" doc:"CPU limit in cores: 0.5, 2 or \"500m\" (at least 10m)."`
	Memory int64   `json:"memory,omitempty" yaml:"-" key:"memory" schema:"quantity" doc:"Memory limit: 256Mi, 1Gi, 512M or bytes (at least 6Mi)."`
}

func (r *Resources) UnmarshalYAML(n *yaml.Node) error {
	if c := mapGet(n, "cpu"); c != nil {
		f, err := ParseCPU(c.Value)
		if err != nil {
			return err
		}
		r.CPU = f
	}
	if m := mapGet(n, "memory"); m != nil {
		b, err := ParseBytes(m.Value)
		if err != nil {
			return err
		}
		r.Memory = b
	}
	return nil
}

type Storage struct {
	Type     string `json:"type" yaml:"type" required:"true" enum:"bind,named,tmpfs" doc:"Mount type."`
	Source   string `json:"source,omitempty" yaml:"source" schema:"abspath" doc:"Absolute host path (bind)."`
	Name     string `json:"name,omitempty" yaml:"name" schema:"name" doc:"Volume name (named): lowercase letters and digits, single '-' between them, up to 40 characters."`
	Target   string `json:"target" yaml:"target" required:"true" schema:"abspath" doc:"Absolute path in the container."`
	ReadOnly bool   `json:"readonly,omitempty" yaml:"readonly" doc:"Mount read-only."`
	Size     int64  `json:"size,omitempty" yaml:"-" key:"size" schema:"quantity" doc:"tmpfs size limit (at least 4Ki)."`
}

func (s *Storage) UnmarshalYAML(n *yaml.Node) error {
	type plain Storage
	if err := n.Decode((*plain)(s)); err != nil {
		return err
	}
	if sz := mapGet(n, "size"); sz != nil {
		b, err := ParseBytes(sz.Value)
		if err != nil {
			return err
		}
		s.Size = b
	}
	return nil
}

// Duration is a time.Duration written as "10s" in YAML and JSON.
type Duration time.Duration

func (d Duration) D() time.Duration { return time.Duration(d) }

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	*d = Duration(v)
	return err
}

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return err
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// ParseFile reads and validates the spec at path (at most MaxBytes).
func ParseFile(path string) (*Deployment, error) {
	b, err := yamldoc.ReadFile(path, MaxBytes)
	if err != nil {
		return nil, docError(path, err)
	}
	return Parse(path, b)
}

// MaxBytes is the largest spec accepted, the node API's body limit.
const MaxBytes = yamldoc.DefaultMaxBytes

// ParseOptions are what the reader of a spec decides, not the spec.
type ParseOptions struct {
	// DefaultNetworkMode is what services without network_mode get: the
	// node's default. Empty leaves their network_mode empty, for a reader
	// that is not the node and cannot know it (deploy --dry-run).
	DefaultNetworkMode NetworkMode
	// LookupEnv, when set, reads the node's environment: a spec whose env
	// references ("$E:NAME") name an unset variable is refused at the
	// reference's position. Nil checks only their form (deploy --dry-run).
	LookupEnv func(name string) (string, bool)
	// SecretExists, when set, says whether the node has a secret of that
	// name: a spec using one it has not is refused at the reference's
	// position. Nil checks only the names' form (deploy --dry-run).
	SecretExists func(name string) bool
}

// Parse is ParseWith for a node without networking: services without
// network_mode get host.
func Parse(file string, data []byte) (*Deployment, error) {
	return ParseWith(file, data, ParseOptions{DefaultNetworkMode: NetworkHost})
}

// ParseWith validates data (named file in errors) and returns the deployment
// with defaults applied. Every problem found is returned at once, as Errors.
//
// Aliases and merge keys are expanded first, within a node budget, and both
// the checks and the decoding work on that expanded tree: what is checked is
// what is decoded.
func ParseWith(file string, data []byte, o ParseOptions) (*Deployment, error) {
	root, err := yamldoc.Parse(file, data, yamldoc.Limits{MaxBytes: MaxBytes})
	if errors.Is(err, yamldoc.ErrEmpty) {
		return nil, Errors{{File: file, Msg: "empty spec"}}
	}
	if err != nil {
		return nil, docError(file, err)
	}
	c := &checker{file: file, secretExists: o.SecretExists, lookupEnv: o.LookupEnv}
	c.tags(root, "")
	c.upstream(root)
	c.walk(root, rootS, "")
	c.semantic(root)
	if len(c.errs) > 0 {
		return nil, c.result()
	}
	d := &Deployment{
		Version:    mapGet(root, "version").Value,
		Deployment: mapGet(root, "deployment").Value,
		Services:   map[string]*Service{},
	}
	svcs := mapGet(root, "services")
	for i := 0; i+1 < len(svcs.Content); i += 2 {
		k, v := svcs.Content[i], svcs.Content[i+1]
		s := &Service{}
		if err := v.Decode(s); err != nil {
			return nil, Errors{{File: file, Line: v.Line, Column: v.Column, Path: "services." + k.Value, Msg: err.Error()}}
		}
		s.applyDefaults(o)
		d.Services[k.Value] = s
		d.Order = append(d.Order, k.Value)
	}
	return d, nil
}

// docError makes a yamldoc error (or a read error) one spec Error.
func docError(file string, err error) Errors {
	var e *yamldoc.Error
	if errors.As(err, &e) {
		return Errors{{File: e.File, Line: e.Pos.Line, Column: e.Pos.Column, Msg: e.Msg, cause: e.Err}}
	}
	return Errors{{File: file, Msg: err.Error(), cause: err}}
}

func (s *Service) applyDefaults(o ParseOptions) {
	s.applyRunDefaults(s.RestartPolicy.Kind != "")
	s.applyUpstreamDefaults()
	if s.Image.PullPolicy == "" {
		s.Image.PullPolicy = PullIfNotPresent
	}
	if s.Scale.Mode == "" {
		s.Scale.Mode = "fixed"
	}
	if s.Scale.Replicas == nil {
		one := 1
		s.Scale.Replicas = &one
	}
	if s.RestartPolicy.Kind == "" {
		s.RestartPolicy.Kind = RestartAlways
	}
	if s.RestartPolicy.Delay == 0 {
		s.RestartPolicy.Delay = Duration(time.Second)
	}
	if s.NetworkMode == "" {
		s.NetworkMode = o.DefaultNetworkMode
	}
	if s.StopSignal != "" {
		s.StopSignal = CanonicalSignal(s.StopSignal)
	}
	for i := range s.Endpoints {
		e := &s.Endpoints[i]
		if e.Protocol == "" {
			e.Protocol = "http"
		}
		if e.TargetPort == 0 {
			e.TargetPort = e.Port
		}
		if e.Expose == "" {
			e.Expose = "internal"
		}
	}
	for i := range s.Depends {
		if s.Depends[i].Condition == "" {
			s.Depends[i].Condition = DependsHealthy
		}
		if s.Depends[i].Timeout == 0 {
			s.Depends[i].Timeout = Duration(5 * time.Minute)
		}
	}
	if h := s.Health; h != nil {
		if h.Interval == 0 {
			h.Interval = Duration(10 * time.Second)
		}
		if h.Timeout == 0 {
			h.Timeout = Duration(5 * time.Second)
		}
		if h.Retries == 0 {
			h.Retries = 3
		}
		if h.Check.Type == "http" && h.Check.Path == "" {
			h.Check.Path = "/"
		}
	}
}

// Hash identifies what a replica's container is made from: image, command,
// env, mounts, resources, network and labels, and the restart counter of
// zlayer restart. Scale, health, restart policy, depends, the stop
// settings, update and node_selector are the node's (or the
// scheduler's) business and change no container, so they are left out:
// editing them never rolls replicas.
func (s *Service) Hash() string {
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(struct {
		Image     string
		Command   Command
		Env       map[string]string
		Endpoints []Endpoint
		Resources Resources
		Storage   []Storage
		Network   string
		Labels    map[string]string
	}{s.Image.Name, s.Command, s.Env, s.Endpoints, s.Resources, s.Storage, string(s.NetworkMode), s.Labels})
	// A service of the default rtype hashes as before rtype existed.
	if s.RunsToCompletion() {
		fmt.Fprintf(h, "rtype %s schedule %q\n", s.Rtype, s.Schedule)
	}
	// Only a restarted service's hash moves: every other hash stays what
	// it was before restarts existed, so upgrading the node rolls nothing.
	if s.Restart != 0 {
		fmt.Fprintf(h, "restart %d\n", s.Restart)
	}
	// Likewise for secrets: a service without any hashes as before. The
	// versions, not the values, move the hash.
	if len(s.Secrets) > 0 || len(s.SecretVersions) > 0 {
		_ = json.NewEncoder(h).Encode(struct {
			Secrets  []SecretMount
			Versions map[string]int64
		}{s.Secrets, s.SecretVersions})
	}
	// And for the container options: a service without any hashes as
	// before they existed.
	if co, _ := json.Marshal(s.ContainerOptions); string(co) != "{}" {
		fmt.Fprintf(h, "container %s\n", co)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// Hash identifies what the deployment's containers are made from: the
// hash of every service, by name. Two generations with the same Hash run
// the same replicas (they differ in scale or policies at most).
func (d *Deployment) Hash() string {
	names := make([]string, 0, len(d.Services))
	for n := range d.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s=%s\n", n, d.Services[n].Hash())
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// StartOrder returns the services so that each comes after those it depends on,
// keeping file order otherwise.
func (d *Deployment) StartOrder() []string {
	order := d.Order
	if len(order) != len(d.Services) {
		order = order[:0:0]
		for n := range d.Services {
			order = append(order, n)
		}
	}
	done := map[string]bool{}
	var out []string
	var visit func(string)
	visit = func(n string) {
		if done[n] {
			return
		}
		done[n] = true
		if s := d.Services[n]; s != nil {
			for _, dep := range s.Depends {
				visit(dep.Service)
			}
		}
		out = append(out, n)
	}
	for _, n := range order {
		visit(n)
	}
	return out
}

// ErrUnsupported marks a valid spec that this node cannot run (e.g. bridge
// networking on a node without networking).
var ErrUnsupported = errors.New("unsupported on this node")

// CheckSupported reports what the node cannot honour, by service.
func (d *Deployment) CheckSupported(bridge bool) error {
	var msgs []string
	for _, n := range d.StartOrder() {
		s := d.Services[n]
		if s.NetworkMode == NetworkBridge && !bridge {
			msgs = append(msgs, fmt.Sprintf("services.%s.network_mode: bridge networking is not available on this node (it has no network configured); use network_mode: host", n))
		}
		msgs = append(msgs, s.checkUpstreamSupported(n)...)
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%w: %s", ErrUnsupported, strings.Join(msgs, "; "))
	}
	return nil
}
