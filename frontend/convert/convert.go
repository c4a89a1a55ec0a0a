// Package convert turns a parsed ZImagefile into the equivalent Dockerfile,
// with a map from every generated line back to the YAML it came from, so the
// BuildKit frontend can hand the Dockerfile to dockerfile2llb and still show
// users their own file in errors.
package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/zlayer/zlayer/frontend/zimagefile"
)

// Result is a conversion: the Dockerfile and where each of its lines came
// from.
type Result struct {
	Dockerfile []byte
	// Lines[i] is the ZImagefile range of Dockerfile line i+1.
	Lines []zimagefile.Range
	// Stages are the generated stages in order; the last is the output.
	Stages []Stage
	// Platform, when set, is the platform the output is built for whatever
	// the user asked (wasm modules are wasi/wasm).
	Platform string
	// Annotations are manifest annotations the output image should carry.
	Annotations map[string]string
}

// Stage is a generated stage.
type Stage struct {
	Name string // as written in the Dockerfile (lowercase), empty for an unnamed single stage
	// Range is the ZImagefile range the stage came from.
	Range zimagefile.Range
}

// ToDockerfile returns the Dockerfile equivalent to f.
func ToDockerfile(f *zimagefile.File) ([]byte, error) {
	r, err := Convert(f)
	if err != nil {
		return nil, err
	}
	return r.Dockerfile, nil
}

// MapRange maps Dockerfile lines [start, end] (1-based, inclusive) to the
// smallest ZImagefile range covering them. ok is false when no line maps.
func (r *Result) MapRange(start, end int) (zimagefile.Range, bool) {
	if end < start {
		end = start
	}
	var out zimagefile.Range
	found := false
	for l := start; l <= end; l++ {
		if l < 1 || l > len(r.Lines) {
			continue
		}
		rg := r.Lines[l-1]
		if rg.Start.Line == 0 {
			continue
		}
		if !found {
			out, found = rg, true
			continue
		}
		if less(rg.Start, out.Start) {
			out.Start = rg.Start
		}
		if less(out.End, rg.End) {
			out.End = rg.End
		}
	}
	return out, found
}

func less(a, b zimagefile.Pos) bool {
	return a.Line < b.Line || (a.Line == b.Line && a.Column < b.Column)
}

// writer accumulates Dockerfile lines with their source ranges.
type writer struct {
	buf   bytes.Buffer
	lines []zimagefile.Range
	// override, when set, replaces every range (template-generated lines
	// point at the runtime: key).
	override *zimagefile.Range
}

func (w *writer) emit(rg zimagefile.Range, text string) {
	if w.override != nil {
		rg = *w.override
	}
	for _, l := range strings.Split(text, "\n") {
		w.buf.WriteString(l)
		w.buf.WriteByte('\n')
		w.lines = append(w.lines, rg)
	}
}

// Convert converts f.
func Convert(f *zimagefile.File) (*Result, error) {
	c := &converter{f: f, res: &Result{}}
	if err := c.run(); err != nil {
		return nil, err
	}
	c.res.Dockerfile = c.w.buf.Bytes()
	c.res.Lines = c.w.lines
	return c.res, nil
}

type converter struct {
	f   *zimagefile.File
	w   writer
	res *Result
	// global args, redeclared in every stage so steps can use them
	globals []string
	// workdirs holds each finished stage's working directory when it is
	// known statically (lowercase stage name -> absolute path).
	workdirs map[string]string
	// workdir tracks the current stage's working directory ("" unknown).
	workdir string
}

func whole(f *zimagefile.File) zimagefile.Range {
	return zimagefile.Range{Start: zimagefile.Pos{Line: 1, Column: 1}, End: zimagefile.Pos{Line: 1, Column: 1}}
}

func keyRange(p zimagefile.Positions, key string) zimagefile.Range {
	kp := p[key]
	return zimagefile.Range{Start: kp.Key, End: kp.Value.End}
}

func (c *converter) run() error {
	f := c.f
	top := whole(f)
	c.w.emit(top, "# Generated from "+f.Name+" by zlayer; edit the ZImagefile, or keep this file and drop the ZImagefile.")
	for _, a := range f.Args {
		if a.Doc != "" {
			c.w.emit(a.Range, "# "+a.Key+" "+strings.TrimPrefix(a.Doc, a.Key+" "))
		}
		c.w.emit(a.Range, "ARG "+argDecl(a))
		c.globals = append(c.globals, a.Key)
	}
	switch f.Mode() {
	case "runtime":
		return c.runtime()
	case "wasm":
		return c.wasm()
	case "stages":
		for i, st := range f.Stages {
			var extra *zimagefile.Config
			if i == len(f.Stages)-1 {
				extra = &f.Config
			}
			c.stage(st, extra, f.Pos)
		}
		return nil
	default:
		st := f.SingleStage()
		c.stage(st, nil, f.Pos)
		return nil
	}
}

// stage writes one stage. extra is the top-level config applied on top of
// the output stage; topPos holds its positions.
func (c *converter) stage(st *zimagefile.Stage, extra *zimagefile.Config, topPos zimagefile.Positions) {
	w := &c.w
	from := "FROM "
	if st.Platform != "" {
		from += "--platform=" + st.Platform + " "
	}
	from += st.Base
	name := strings.ToLower(st.Name)
	if name != "" {
		from += " AS " + name
	}
	baseRange := st.Key
	if st.Pos.Has("base") {
		baseRange = keyRange(st.Pos, "base")
		if st.Name != "" {
			baseRange.Start = st.Key.Start
		}
	}
	if st.Doc != "" && name != "" {
		w.emit(st.Key, "# "+name+" "+strings.TrimPrefix(st.Doc, name+" "))
	}
	w.emit(baseRange, from)
	c.res.Stages = append(c.res.Stages, Stage{Name: name, Range: st.Range})
	c.workdir = c.workdirs[strings.ToLower(st.Base)]
	c.chdir(st.Workdir)
	for _, g := range c.globals {
		w.emit(baseRange, "ARG "+g)
	}
	for _, a := range st.Args {
		if a.Doc != "" {
			w.emit(a.Range, "# "+a.Key+" "+strings.TrimPrefix(a.Doc, a.Key+" "))
		}
		w.emit(a.Range, "ARG "+argDecl(a))
	}
	if len(st.Env) > 0 {
		c.env(st.Env)
	}
	if st.Workdir != "" {
		w.emit(keyRange(st.Pos, "workdir"), "WORKDIR "+st.Workdir)
	}
	for _, s := range st.Steps {
		c.step(s)
	}
	if name != "" {
		if c.workdirs == nil {
			c.workdirs = map[string]string{}
		}
		c.workdirs[name] = c.workdir
	}
	cfg := st.Config
	if extra != nil {
		cfg = overridden(cfg, extra)
	}
	c.tail(&cfg, st.Pos)
	if extra != nil {
		if len(extra.Env) > 0 {
			c.env(extra.Env)
		}
		if extra.Workdir != "" {
			w.emit(keyRange(topPos, "workdir"), "WORKDIR "+extra.Workdir)
		}
		c.tail(extra, topPos)
	}
}

// overridden drops from cfg the single-valued settings that over replaces,
// so the output stage carries one CMD (ENTRYPOINT, HEALTHCHECK,
// STOPSIGNAL) as a user writing the Dockerfile would, and lint stays quiet.
func overridden(cfg zimagefile.Config, over *zimagefile.Config) zimagefile.Config {
	if over.Cmd != nil {
		cfg.Cmd = nil
	}
	if over.Entrypoint != nil {
		cfg.Entrypoint = nil
	}
	if over.Healthcheck != nil {
		cfg.Healthcheck = nil
	}
	if over.StopSignal != "" {
		cfg.StopSignal = ""
	}
	if over.User != "" {
		cfg.User = ""
	}
	return cfg
}

// chdir follows WORKDIR statically; a directory with variables makes the
// working directory unknown.
func (c *converter) chdir(dir string) {
	switch {
	case dir == "":
	case strings.Contains(dir, "$"):
		c.workdir = ""
	case strings.HasPrefix(dir, "/"):
		c.workdir = path.Clean(dir)
	case c.workdir != "":
		c.workdir = path.Join(c.workdir, dir)
	default:
		// Relative to a base image's WORKDIR we cannot see.
		c.workdir = ""
	}
}

// tail writes the configuration that belongs after the steps.
func (c *converter) tail(cfg *zimagefile.Config, pos zimagefile.Positions) {
	w := &c.w
	if cfg.User != "" {
		w.emit(keyRange(pos, "user"), "USER "+cfg.User)
	}
	if len(cfg.Labels) > 0 {
		for _, l := range cfg.Labels {
			w.emit(l.Range, "LABEL "+quote(l.Key)+"="+quote(l.Value))
		}
	}
	if len(cfg.Expose) > 0 {
		for _, p := range cfg.Expose {
			s := fmt.Sprint(p.Number)
			if p.Proto != "" {
				s += "/" + p.Proto
			}
			w.emit(p.Range, "EXPOSE "+s)
		}
	}
	if len(cfg.Volumes) > 0 {
		w.emit(keyRange(pos, "volumes"), "VOLUME "+jsonList(cfg.Volumes))
	}
	if h := cfg.Healthcheck; h != nil && h.Cmd != nil {
		rg := keyRange(pos, "healthcheck")
		if !h.Cmd.IsExec && strings.EqualFold(strings.TrimSpace(h.Cmd.Shell), "none") {
			w.emit(rg, "HEALTHCHECK NONE")
		} else {
			line := "HEALTHCHECK"
			if h.Interval != "" {
				line += " --interval=" + h.Interval
			}
			if h.Timeout != "" {
				line += " --timeout=" + h.Timeout
			}
			if h.StartPeriod != "" {
				line += " --start-period=" + h.StartPeriod
			}
			if h.Pos.Has("retries") {
				line += fmt.Sprintf(" --retries=%d", h.Retries)
			}
			w.emit(rg, line+" CMD "+command(h.Cmd))
		}
	}
	if cfg.StopSignal != "" {
		w.emit(keyRange(pos, "stopsignal"), "STOPSIGNAL "+cfg.StopSignal)
	}
	if cfg.Entrypoint != nil {
		w.emit(keyRange(pos, "entrypoint"), "ENTRYPOINT "+command(cfg.Entrypoint))
	}
	if cfg.Cmd != nil {
		w.emit(keyRange(pos, "cmd"), "CMD "+command(cfg.Cmd))
	}
}

func (c *converter) env(env zimagefile.KeyValues) {
	for _, e := range env {
		c.w.emit(e.Range, "ENV "+e.Key+"="+quote(e.Value))
	}
}

func (c *converter) step(s *zimagefile.Step) {
	w := &c.w
	rg := s.Range
	switch s.Action() {
	case zimagefile.ActionRun:
		w.emit(rg, runLine(s))
	case zimagefile.ActionCopy, zimagefile.ActionAdd:
		inst, srcs := "COPY", s.Copy
		if s.Action() == zimagefile.ActionAdd {
			inst, srcs = "ADD", s.Add
		}
		line := inst
		if s.From != "" {
			from := s.From
			if !strings.ContainsAny(from, ":/@$") {
				from = strings.ToLower(from)
			}
			line += " --from=" + from
		}
		if s.Owner != "" {
			line += " --chown=" + s.Owner
		}
		if s.Chmod != "" {
			line += " --chmod=" + s.Chmod
		}
		if wd := c.workdirs[strings.ToLower(s.From)]; wd != "" {
			// Relative sources copied from a stage resolve against that
			// stage's working directory, so the README's
			// "copy: target/release/myapp, from: builder" finds the
			// binary the builder made in its workdir. The Dockerfile gets
			// the absolute path.
			abs := make([]string, len(srcs))
			for i, src := range srcs {
				abs[i] = src
				if !strings.HasPrefix(src, "/") && !strings.Contains(src, "$") {
					abs[i] = path.Join(wd, src)
					if strings.HasSuffix(src, "/") {
						abs[i] += "/"
					}
				}
			}
			srcs = abs
		}
		dest := s.To
		if len(srcs) > 1 && !strings.HasSuffix(dest, "/") {
			// Several sources always land in a directory; Dockerfile wants
			// that spelled with a trailing slash.
			dest += "/"
		}
		w.emit(rg, line+" "+jsonList(append(append([]string{}, srcs...), dest)))
	case zimagefile.ActionEnv:
		c.env(s.Env)
	case zimagefile.ActionWorkdir:
		w.emit(rg, "WORKDIR "+s.Workdir)
		c.chdir(s.Workdir)
	case zimagefile.ActionUser:
		w.emit(rg, "USER "+s.User)
	}
}

func runLine(s *zimagefile.Step) string {
	line := "RUN"
	for _, m := range s.Cache {
		opt := "type=cache,target=" + m.Target
		if m.ID != "" {
			opt += ",id=" + m.ID
		}
		if m.Sharing != "" {
			opt += ",sharing=" + m.Sharing
		}
		if m.Readonly {
			opt += ",readonly"
		}
		line += " --mount=" + opt
	}
	for _, m := range s.Secrets {
		line += mountFlag("secret", m.ID, m.Target, m.Env, m.Required)
	}
	for _, m := range s.SSH {
		id := m.ID
		if id == "default" {
			id = "" // BuildKit's default agent id
		}
		line += mountFlag("ssh", id, m.Target, "", m.Required)
	}
	r := s.Run
	if r.IsExec {
		args := r.Exec
		if len(s.Env) > 0 {
			// No shell to scope variables in exec form: env(1) does it.
			pre := []string{"env"}
			for _, e := range s.Env {
				pre = append(pre, e.Key+"="+e.Value)
			}
			args = append(pre, args...)
		}
		return line + " " + jsonList(args)
	}
	script := strings.TrimRight(r.Shell, "\n")
	if len(s.Env) > 0 {
		var b strings.Builder
		b.WriteString("export")
		for _, e := range s.Env {
			b.WriteString(" " + e.Key + "=" + shellQuote(e.Value))
		}
		if strings.Contains(script, "\n") {
			script = b.String() + "\n" + script
		} else {
			script = b.String() + "; " + script
		}
	}
	if needsHeredoc(script) {
		delim := "EOF"
		for i := 0; strings.Contains("\n"+script+"\n", "\n"+delim+"\n"); i++ {
			delim = fmt.Sprintf("EOF%d", i)
		}
		// A quoted delimiter hands the script to the shell verbatim, like
		// the single-line form.
		return line + " <<'" + delim + "'\n" + script + "\n" + delim
	}
	return line + " " + script
}

// mountFlag writes a secret or ssh --mount, leaving out what is unset.
func mountFlag(typ, id, target, env string, required bool) string {
	opt := " --mount=type=" + typ
	for _, kv := range [][2]string{{"id", id}, {"target", target}, {"env", env}} {
		if kv[1] != "" {
			opt += "," + kv[0] + "=" + kv[1]
		}
	}
	if required {
		opt += ",required=true"
	}
	return opt
}

// needsHeredoc reports whether a shell script cannot be a one-line RUN: it
// spans lines, ends in a line continuation, or would be read as exec form or
// a heredoc.
func needsHeredoc(s string) bool {
	t := strings.TrimSpace(s)
	return strings.Contains(s, "\n") || strings.HasSuffix(t, "\\") || strings.HasPrefix(t, "[") || strings.Contains(t, "<<")
}

func command(c *zimagefile.Command) string {
	if c.IsExec {
		return jsonList(c.Exec)
	}
	return c.Shell
}

func jsonList(items []string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(items)
	return strings.TrimSpace(b.String())
}

// quote writes a Dockerfile double-quoted word; $ stays live so ENV and
// LABEL values expand build args as they do in a Dockerfile.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// shellQuote writes a POSIX double-quoted word, leaving $ live.
func shellQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`")
	return `"` + r.Replace(s) + `"`
}

func argDecl(a zimagefile.KeyValue) string {
	if a.Null {
		return a.Key
	}
	return a.Key + "=" + quote(a.Value)
}
