// Package buildsecret reads the build secrets and SSH agents a build is given
// (zlayer build --secret/--ssh, a ZPipeline image's secrets:/ssh:) in
// buildx's syntax, and turns them into BuildKit session attachables. Values
// travel only over the build session: they are never build args, so they
// never reach a layer or the image history.
package buildsecret

import (
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
)

// Secret is one build secret: the id a run step mounts and where its value
// comes from, a file (Src) or an environment variable (Env) of this process.
type Secret struct {
	ID  string `json:"id"`
	Src string `json:"src,omitempty"`
	Env string `json:"env,omitempty"`
}

// SSH is one SSH agent a run step may mount: the agent socket (or key files)
// at Paths, or $SSH_AUTH_SOCK when Paths is empty.
type SSH struct {
	ID    string   `json:"id"`
	Paths []string `json:"paths,omitempty"`
}

// ParseSecret reads "id=ID,src=FILE", "id=ID,env=VAR" (also type=file|env
// and source=, as buildx takes them). With neither src nor env, the value is
// the environment variable named ID when set, else the file named ID.
func ParseSecret(spec string) (Secret, error) {
	fields, err := csv.NewReader(strings.NewReader(spec)).Read()
	if err != nil {
		return Secret{}, fmt.Errorf("secret %q: %w", spec, err)
	}
	var s Secret
	typ := ""
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return Secret{}, fmt.Errorf("secret %q: %q is not KEY=VALUE (want id=ID,src=FILE or id=ID,env=VAR)", spec, f)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "id":
			s.ID = v
		case "src", "source":
			s.Src = v
		case "env":
			s.Env = v
		case "type":
			if v != "file" && v != "env" {
				return Secret{}, fmt.Errorf("secret %q: type %q is not file or env", spec, v)
			}
			typ = v
		default:
			return Secret{}, fmt.Errorf("secret %q: unknown key %q (id, src, env, type)", spec, k)
		}
	}
	if typ == "env" && s.Env == "" {
		// buildx reads "type=env,id=X,src=VAR" as the variable VAR.
		s.Env, s.Src = s.Src, ""
	}
	if err := s.check(); err != nil {
		return Secret{}, fmt.Errorf("secret %q: %w", spec, err)
	}
	return s, nil
}

func (s Secret) check() error {
	switch {
	case s.ID == "":
		return errors.New("id= is required")
	case strings.ContainsAny(s.ID, ",\"\n\r/"):
		return fmt.Errorf("id %q must not contain ',', '\"', '/' or a line break", s.ID)
	case s.Src != "" && s.Env != "":
		return errors.New("give src= (a file) or env= (a variable), not both")
	}
	return nil
}

// ParseSSH reads "default", "ID" or "ID=PATH[,PATH...]": an agent socket or
// private key files.
func ParseSSH(spec string) (SSH, error) {
	id, paths, hasPaths := strings.Cut(spec, "=")
	s := SSH{ID: strings.TrimSpace(id)}
	if hasPaths {
		for _, p := range strings.Split(paths, ",") {
			if p == "" {
				return SSH{}, fmt.Errorf("ssh %q: empty path", spec)
			}
			s.Paths = append(s.Paths, p)
		}
	}
	if s.ID == "" {
		return SSH{}, fmt.Errorf("ssh %q: want default, ID or ID=SOCKET|KEY[,KEY...]", spec)
	}
	if strings.ContainsAny(s.ID, ",\"\n\r ") {
		return SSH{}, fmt.Errorf("ssh %q: id %q must not contain ',', '\"', spaces or a line break", spec, s.ID)
	}
	return s, nil
}

// ParseAll reads every --secret and --ssh flag, refusing an id given twice.
func ParseAll(secretSpecs, sshSpecs []string) ([]Secret, []SSH, error) {
	secs, err := parseEach(secretSpecs, ParseSecret, func(s Secret) string { return s.ID }, "secret")
	if err != nil {
		return nil, nil, err
	}
	agents, err := parseEach(sshSpecs, ParseSSH, func(s SSH) string { return s.ID }, "ssh agent")
	if err != nil {
		return nil, nil, err
	}
	return secs, agents, nil
}

func parseEach[T any](specs []string, parse func(string) (T, error), id func(T) string, noun string) ([]T, error) {
	var out []T
	seen := map[string]bool{}
	for _, spec := range specs {
		v, err := parse(spec)
		if err != nil {
			return nil, err
		}
		if seen[id(v)] {
			return nil, fmt.Errorf("%s %q is given twice", noun, id(v))
		}
		seen[id(v)] = true
		out = append(out, v)
	}
	return out, nil
}

// Spec renders s in the --secret syntax, quoting a field that holds a comma
// or a quote as a CSV reader expects.
func (s Secret) Spec() string {
	fields := []string{"id=" + s.ID}
	if s.Src != "" {
		fields = append(fields, "src="+s.Src)
	}
	if s.Env != "" {
		fields = append(fields, "env="+s.Env)
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write(fields)
	w.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

// Spec renders s in the --ssh syntax.
func (s SSH) Spec() string {
	if len(s.Paths) == 0 {
		return s.ID
	}
	return s.ID + "=" + strings.Join(s.Paths, ",")
}

// Attachables are the session providers that serve secrets and agents to
// buildkitd. A secrets provider is always attached, so a step whose secret
// was not given fails with BuildKit's "secret ID: not found" naming it.
func Attachables(secs []Secret, agents []SSH) ([]session.Attachable, error) {
	sources := make([]secretsprovider.Source, 0, len(secs))
	for _, s := range secs {
		src := secretsprovider.Source{ID: s.ID, FilePath: s.Src, Env: s.Env}
		if s.Env != "" {
			// The provider reads an unset variable as an empty secret;
			// a missing value is the user's mistake, so say so now.
			if _, ok := os.LookupEnv(s.Env); !ok {
				return nil, fmt.Errorf("secret %q: environment variable %s is not set", s.ID, s.Env)
			}
		}
		sources = append(sources, src)
	}
	store, err := secretsprovider.NewStore(sources)
	if err != nil {
		return nil, fmt.Errorf("build secrets: %w", err)
	}
	out := []session.Attachable{secretsprovider.NewSecretProvider(store)}
	if len(agents) > 0 {
		confs := make([]sshprovider.AgentConfig, 0, len(agents))
		for _, a := range agents {
			confs = append(confs, sshprovider.AgentConfig{ID: a.ID, Paths: a.Paths})
		}
		p, err := sshprovider.NewSSHAgentProvider(confs)
		if err != nil {
			return nil, fmt.Errorf("--ssh: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}
