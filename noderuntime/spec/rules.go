package spec

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// A rule checks one kind of string value wherever the spec uses it; pattern
// and notPattern (when set) say as much of it to JSON Schema readers.
type rule struct {
	check               func(string) error
	pattern, notPattern string
	maxLen              int
}

var (
	nameRule     = &rule{check: CheckName, pattern: namePattern, maxLen: maxNameLen}
	absPathRule  = &rule{check: CheckAbsPath, pattern: "^/"}
	urlPathRule  = &rule{check: checkURLPath, pattern: "^/"}
	hostRule     = &rule{check: checkHost, pattern: hostPattern}
	labelKeyRule = &rule{check: CheckLabelKey, pattern: "^.+$", notPattern: "^[Zz][Ll][Aa][Yy][Ee][Rr]\\."}
	envNameRule  = &rule{check: checkEnvName, pattern: "^[^=]+$"}
	signalRule   = &rule{check: checkSignal, pattern: signalPattern}

	nodeLabelKeyRule   = &rule{check: CheckNodeLabelKey, pattern: nodeLabelKeyPattern}
	nodeLabelValueRule = &rule{check: CheckNodeLabelValue, pattern: nodeLabelValuePattern}
)

const (
	namePattern = `^[a-z0-9]+(-[a-z0-9]+)*$`
	maxNameLen  = 40
)

var nameRE = regexp.MustCompile(namePattern)

// CheckName is the rule for every name the node turns into a path or an ID
// (deployments, services, volumes): lowercase letters and digits, single '-'
// between them, up to 40 characters. Such a name has no '/' or '.', so it can
// never leave the folder it is joined to, and no "--", which containerd IDs
// and DNS labels refuse (reconcile.ContainerID relies on both).
func CheckName(s string) error {
	if len(s) > maxNameLen || !nameRE.MatchString(s) {
		return fmt.Errorf("%q is not a valid name: use lowercase letters, digits and single '-' between them, up to 40 characters", s)
	}
	return nil
}

// CheckAbsPath is the rule for file paths: absolute and clean (no "..", ".",
// "//" or trailing "/"), so what the spec shows is what gets mounted.
func CheckAbsPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("must be an absolute path, got %q", p)
	case strings.ContainsRune(p, 0):
		return errors.New("must not contain a NUL byte")
	case path.Clean(p) != p:
		return fmt.Errorf("must be a clean path (no \"..\", \".\", \"//\" or trailing \"/\"): write %q, got %q", path.Clean(p), p)
	}
	return nil
}

// checkURLPath: an HTTP path starts with "/" and is clean (the ingress
// matches cleaned request paths, so an unclean prefix could never match).
func checkURLPath(p string) error {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	if !strings.HasPrefix(p, "/") || c != p {
		return fmt.Errorf("must be a clean path starting with \"/\", got %q", p)
	}
	return nil
}

const hostPattern = `^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`

var hostRE = regexp.MustCompile(hostPattern)

func checkHost(h string) error {
	if len(h) > 253 || !hostRE.MatchString(h) {
		return fmt.Errorf("%q is not a host name: use a lowercase DNS name such as app.example.com, or *.example.com", h)
	}
	return nil
}

// ReservedLabelPrefix starts the labels the node sets on every container
// (zlayer.deployment, zlayer.service, zlayer.replica, zlayer.spec-hash...):
// it finds and adopts its containers by them, so a spec may not set them.
const ReservedLabelPrefix = "zlayer."

// CheckLabelKey refuses empty keys and keys in the node's reserved prefix
// (in any case).
func CheckLabelKey(k string) error {
	switch {
	case k == "":
		return errors.New("a label key must not be empty")
	case strings.HasPrefix(strings.ToLower(k), ReservedLabelPrefix):
		return fmt.Errorf("label %q: keys starting with %q are reserved for the node", k, ReservedLabelPrefix)
	}
	return nil
}

func checkEnvName(k string) error {
	if k == "" || strings.ContainsAny(k, "=\x00") {
		return fmt.Errorf("%q is not a valid environment variable name (empty, or holds '=' or NUL)", k)
	}
	return nil
}

// signalNames are the Linux signals a stop_signal may name, without "SIG".
// Real-time signals are left out: their numbers depend on the C library.
var signalNames = []string{
	"HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1",
	"SEGV", "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP",
	"TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH",
	"IO", "PWR", "SYS",
}

// A signal may also be given by its number (upstream ZLayer and Docker
// take "15"), 1 to 31, the order of signalNames.
var signalPattern = "^((SIG)?(" + strings.Join(signalNames, "|") + ")|[1-9]|[12][0-9]|3[01])$"

var signalRE = regexp.MustCompile(signalPattern)

// checkSignal takes a signal name in upper case, with or without "SIG"
// (SIGTERM, TERM), or its number (15), as Docker and compose do.
func checkSignal(s string) error {
	if !signalRE.MatchString(s) {
		return fmt.Errorf("%q is not a signal name: use one such as SIGTERM, SIGQUIT or SIGINT, or its number 1 to 31", s)
	}
	return nil
}

// CanonicalSignal writes a valid signal name with its "SIG" prefix.
func CanonicalSignal(s string) string {
	if strings.HasPrefix(s, "SIG") {
		return s
	}
	return "SIG" + s
}

// A node label's name and value are made of parts: a letter or digit, then
// up to 62 letters, digits, '-', '_' or '.', ending in a letter or digit.
// A name may have a prefix part and a '/' before it (example.com/zone), as
// Kubernetes labels do. Nothing longer or stranger can reach an etcd key, a
// log line or a CLI table through them.
const (
	labelPart             = `[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?`
	nodeLabelKeyPattern   = `^(` + labelPart + `/)?` + labelPart + `$`
	nodeLabelValuePattern = `^` + labelPart + `$`
	// MaxNodeSelector bounds a node_selector's pairs: each is compared
	// with every node on every scheduling pass.
	MaxNodeSelector = 16
)

var (
	nodeLabelKeyRE   = regexp.MustCompile(nodeLabelKeyPattern)
	nodeLabelValueRE = regexp.MustCompile(nodeLabelValuePattern)
)

// CheckNodeLabelKey is the rule for a node label's name, in a service's
// node_selector and in a node's --node-label.
func CheckNodeLabelKey(k string) error {
	if !nodeLabelKeyRE.MatchString(k) {
		return fmt.Errorf("%q is not a valid node label name: use letters, digits, '-', '_' and '.', starting and ending with a letter or digit, up to 63 characters, optionally after a prefix of the same form and a '/' (disk, example.com/zone)", k)
	}
	return nil
}

// CheckNodeLabelValue is the rule for a node label's value.
func CheckNodeLabelValue(v string) error {
	if !nodeLabelValueRE.MatchString(v) {
		return fmt.Errorf("%q is not a valid node label value: use letters, digits, '-', '_' and '.', starting and ending with a letter or digit, up to 63 characters", v)
	}
	return nil
}
