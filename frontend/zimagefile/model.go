// Package zimagefile reads ZImagefiles: the YAML build files of ZLayer. It
// turns a file into a typed model that remembers where every value came
// from, so that later stages (conversion, the BuildKit frontend) can point
// users at the YAML line that caused a problem.
package zimagefile

// Pos is a 1-based line and column in a ZImagefile.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Range spans a YAML node: Start is where it begins, End the last line it
// covers (End.Column is the column just past its last character when known).
type Range struct {
	Start Pos `json:"start"`
	End   Pos `json:"end"`
}

// File is a parsed ZImagefile. Exactly one of Runtime, Wasm, Stages or
// (Base with Steps) describes what to build; the embedded Config applies to
// the output stage.
type File struct {
	// Name is the file name used in error messages.
	Name string `json:"-"`
	// Data is the file's text, kept for source maps.
	Data []byte `json:"-"`

	Version string `json:"version,omitempty" doc:"Format version. Only \"1\" is accepted." schema:"version"`
	Runtime string `json:"runtime,omitempty" doc:"Runtime template: node20 (alias node), node22, python312 (alias python), python313, rust, go, deno, bun." enum:"node,node20,node22,python,python312,python313,rust,go,deno,bun"`
	Wasm    *Wasm  `json:"wasm,omitempty" doc:"Build a WebAssembly module into an OCI image for platform wasi/wasm."`
	Stages  Stages `json:"stages,omitempty" doc:"Named stages in build order; the last one is the output image. A stage's base may name an earlier stage."`
	Args    Args   `json:"args,omitempty" doc:"Global build arguments with their defaults (null for none); usable in every stage and in base images."`

	Base     string `json:"base,omitempty" doc:"Single-stage mode: the base image (or scratch)."`
	Platform string `json:"platform,omitempty" doc:"Single-stage mode: platform of the base image, e.g. linux/amd64 or $BUILDPLATFORM."`
	Config
	Steps []*Step `json:"steps,omitempty" doc:"Single-stage mode: build steps in order."`

	// Pos records where each top-level key's value is.
	Pos Positions `json:"-"`
}

// Config holds the image configuration keys shared by stages and the top
// level (where they apply to the output stage).
type Config struct {
	Env         KeyValues    `json:"env,omitempty" doc:"Environment variables of the image (and of later steps)."`
	Workdir     string       `json:"workdir,omitempty" doc:"Working directory. In a stage it is set before the steps run."`
	User        string       `json:"user,omitempty" doc:"User (and optionally :group) the container runs as. Set after the steps, so steps still run as the base image's user; use a user: step to switch earlier."`
	Labels      KeyValues    `json:"labels,omitempty" doc:"Image labels."`
	Expose      Ports        `json:"expose,omitempty" doc:"Exposed ports: 8080, \"53/udp\" or a list of them."`
	Entrypoint  *Command     `json:"entrypoint,omitempty" doc:"Entrypoint: a string is shell form, a list is exec form."`
	Cmd         *Command     `json:"cmd,omitempty" doc:"Default command: a string is shell form, a list is exec form."`
	Volumes     StringList   `json:"volumes,omitempty" doc:"Volume mount points."`
	Healthcheck *Healthcheck `json:"healthcheck,omitempty" doc:"Container health check."`
	StopSignal  string       `json:"stopsignal,omitempty" doc:"Signal that stops the container, e.g. SIGTERM." schema:"signal"`
}

// Stage is one named stage of a multi-stage build (or the single stage).
type Stage struct {
	Name string `json:"-"`
	// Doc is the YAML comment above the stage's name; it describes the
	// stage in `buildx build --call targets`.
	Doc      string `json:"-"`
	Base     string `json:"base" doc:"Base image, scratch, or the name of an earlier stage." required:"true"`
	Platform string `json:"platform,omitempty" doc:"Platform of the base image, e.g. linux/arm64 or $BUILDPLATFORM."`
	Args     Args   `json:"args,omitempty" doc:"Build arguments of this stage with their defaults (null for none)."`
	Config
	Steps []*Step `json:"steps,omitempty" doc:"Build steps in order."`

	// Key is where the stage's name is; Range the whole stage.
	Key   Range     `json:"-"`
	Range Range     `json:"-"`
	Pos   Positions `json:"-"`
}

// Stages is the ordered stage map.
type Stages []*Stage

// Step is one build step: exactly one of Run, Copy, Add, Env, Workdir or
// User is set (see Action).
type Step struct {
	Run     *Command   `json:"run,omitempty" doc:"Command to run: a string runs in the shell (multi-line strings run as a script), a list is exec form."`
	Copy    StringList `json:"copy,omitempty" doc:"Source path(s) to copy from the context, a stage or an image; needs to."`
	Add     StringList `json:"add,omitempty" doc:"Source path(s) or URL(s) to add (archives are extracted); needs to."`
	Env     KeyValues  `json:"env,omitempty" doc:"Alone: set environment variables for later steps and the image. Beside run: variables for that run only."`
	Workdir string     `json:"workdir,omitempty" doc:"Change the working directory."`
	User    string     `json:"user,omitempty" doc:"Change the user later steps run as."`

	To    string        `json:"to,omitempty" doc:"Destination of copy/add."`
	From  string        `json:"from,omitempty" doc:"copy only: the stage or image to copy from."`
	Owner string        `json:"owner,omitempty" doc:"copy/add: owner (user[:group]) of the copied files."`
	Chmod string        `json:"chmod,omitempty" doc:"copy/add: mode of the copied files, e.g. \"755\"." schema:"chmod"`
	Cache []*CacheMount `json:"cache,omitempty" doc:"run only: cache mounts kept between builds."`
	// Secrets and SSH reach the run through BuildKit mounts, so their values
	// are never written to a layer or to the image history.
	Secrets SecretMounts `json:"secrets,omitempty" doc:"run only: build secrets (zlayer build --secret id=...) mounted as a file or set as an environment variable for this run only."`
	SSH     SSHMounts    `json:"ssh,omitempty" doc:"run only: SSH agent sockets (zlayer build --ssh default|id) forwarded to this run; SSH_AUTH_SOCK points at the first."`

	Range Range     `json:"-"`
	Pos   Positions `json:"-"`
}

// Step actions, as returned by Step.Action.
const (
	ActionRun     = "run"
	ActionCopy    = "copy"
	ActionAdd     = "add"
	ActionEnv     = "env"
	ActionWorkdir = "workdir"
	ActionUser    = "user"
)

// Action names what the step does.
func (s *Step) Action() string {
	for _, k := range []string{ActionRun, ActionCopy, ActionAdd, ActionWorkdir, ActionUser} {
		if s.Pos.Has(k) {
			return k
		}
	}
	if s.Pos.Has(ActionEnv) {
		return ActionEnv
	}
	return ""
}

// CacheMount is a BuildKit cache mount for a run step.
type CacheMount struct {
	Target   string `json:"target" doc:"Path the cache is mounted at." required:"true"`
	ID       string `json:"id,omitempty" doc:"Cache id (defaults to the target path)."`
	Sharing  string `json:"sharing,omitempty" doc:"How concurrent builds share the cache." enum:"shared,private,locked"`
	Readonly bool   `json:"readonly,omitempty" doc:"Mount the cache read-only."`

	Range Range     `json:"-"`
	Pos   Positions `json:"-"`
}

// SecretMount exposes one build secret to a run step: as a file (target, by
// default /run/secrets/ID) or as an environment variable (env).
type SecretMount struct {
	ID       string `json:"id" doc:"Secret id, as given to zlayer build --secret id=ID." required:"true" schema:"secretid"`
	Target   string `json:"target,omitempty" doc:"Absolute path the secret file is mounted at (default /run/secrets/ID); not with env." schema:"abspath"`
	Env      string `json:"env,omitempty" doc:"Environment variable the secret's value is set in, for this run only; not with target." schema:"envname"`
	Required bool   `json:"required,omitempty" doc:"Fail the build when the secret is not given (default false: the run goes on without it)."`

	Range Range     `json:"-"`
	Pos   Positions `json:"-"`
}

// SecretMounts are a run step's secrets.
type SecretMounts []*SecretMount

// SSHMount forwards one SSH agent (zlayer build --ssh ID) to a run step.
type SSHMount struct {
	ID       string `json:"id,omitempty" doc:"Agent id, as given to zlayer build --ssh ID (default: default)." schema:"secretid"`
	Target   string `json:"target,omitempty" doc:"Absolute path of the agent socket in the run (default: a socket SSH_AUTH_SOCK names)." schema:"abspath"`
	Required bool   `json:"required,omitempty" doc:"Fail the build when the agent is not given (default false)."`

	Range Range     `json:"-"`
	Pos   Positions `json:"-"`
}

// SSHMounts are a run step's SSH agent mounts.
type SSHMounts []*SSHMount

// Healthcheck is the container health check.
type Healthcheck struct {
	Cmd         *Command `json:"cmd" doc:"Check command: a string runs in the shell, a list is exec form; \"NONE\" disables the base image's check." required:"true"`
	Interval    string   `json:"interval,omitempty" doc:"Time between checks, e.g. 30s." schema:"duration"`
	Timeout     string   `json:"timeout,omitempty" doc:"Time a check may take, e.g. 5s." schema:"duration"`
	StartPeriod string   `json:"start_period,omitempty" doc:"Grace period after start, e.g. 10s." schema:"duration"`
	Retries     int      `json:"retries,omitempty" doc:"Consecutive failures before unhealthy." minimum:"1"`

	Range Range     `json:"-"`
	Pos   Positions `json:"-"`
}

// Wasm describes a WebAssembly build.
type Wasm struct {
	Target    string     `json:"target,omitempty" doc:"WASI target." enum:"preview1,preview2"`
	Language  string     `json:"language,omitempty" doc:"Source language; omit with module to package a prebuilt module." enum:"rust,go,c,zig,assemblyscript,typescript,python"`
	Optimize  bool       `json:"optimize,omitempty" doc:"Run wasm-opt on the module when the builder image has it."`
	OptLevel  string     `json:"opt_level,omitempty" doc:"wasm-opt level." enum:"0,1,2,3,4,s,z"`
	Features  StringList `json:"features,omitempty" doc:"Language features to enable (cargo features for rust)."`
	BuildArgs KeyValues  `json:"build_args,omitempty" doc:"Variables passed to the build command's environment."`
	Output    string     `json:"output,omitempty" doc:"Path of the module the build writes, relative to the context (defaults per language)."`
	Module    string     `json:"module,omitempty" doc:"A prebuilt .wasm in the build context to package instead of compiling."`
	Base      string     `json:"base,omitempty" doc:"Builder image overriding the language's default toolchain image."`
	Name      string     `json:"name,omitempty" doc:"File name of the module in the image (default module.wasm)."`

	Range Range     `json:"-"`
	Pos   Positions `json:"-"`
}

// KeyValue is one entry of an ordered map. Null is set for YAML null values
// (an argument without a default).
type KeyValue struct {
	Key   string
	Value string
	Null  bool
	Range Range
	// Doc is the YAML comment above the key (build args show it in
	// `buildx build --call outline`).
	Doc string
}

// KeyValues is an ordered string map.
type KeyValues []KeyValue

// Args are build arguments: an ordered map whose values may be null.
type Args []KeyValue

// Get returns the value of key and whether it is present.
func (kv KeyValues) Get(key string) (string, bool) {
	for _, e := range kv {
		if e.Key == key {
			return e.Value, true
		}
	}
	return "", false
}

// StringList is one string or a list of strings.
type StringList []string

// Port is an exposed port.
type Port struct {
	Number int
	Proto  string // "tcp" or "udp"; empty means tcp
	Range  Range
}

// Ports is one port or a list of ports.
type Ports []Port

// Command is a string (shell form) or a list (exec form).
type Command struct {
	Shell string
	Exec  []string
	// IsExec is set for the list form.
	IsExec bool
	Range  Range
}

// Positions maps a key of a YAML mapping to where its key and value are.
type Positions map[string]KeyPos

// KeyPos is where a mapping entry's key is and the range of its value.
type KeyPos struct {
	Key   Pos
	Value Range
}

// Has reports whether the key was present.
func (p Positions) Has(key string) bool {
	_, ok := p[key]
	return ok
}

// Line returns the line of key, or 0.
func (p Positions) Line(key string) int {
	return p[key].Key.Line
}
