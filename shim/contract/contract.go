// Package contract is what the shim and the node agree on: the annotations
// the shim honours and where it writes each container's log and exit record.
// It is light on purpose, so the node can import it without the shim.
package contract

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/zlayer/zlayer/shim/logfile"
)

// Runtime is the containerd runtime name; containerd finds the shim binary
// containerd-shim-zlayer-v1 on its PATH from it.
const Runtime = "io.containerd.zlayer.v1"

// ShimBinary is the shim's executable, found by containerd on its PATH from
// Runtime.
const ShimBinary = "containerd-shim-zlayer-v1"

// Annotations on the OCI spec.
const (
	// GroupAnnotation puts containers with the same value (the node uses
	// deployment/service) into one shim process. Without it each container
	// gets its own shim.
	GroupAnnotation = "zlayer.io/group"
	// LogMaxSizeAnnotation is the size at which the log file rotates: bytes,
	// or a number with a unit k, m, g (powers of 1024; "10m", "512KiB").
	LogMaxSizeAnnotation = "zlayer.io/log-max-size"
	// LogMaxFilesAnnotation is how many files (current plus rotated) to keep.
	LogMaxFilesAnnotation = "zlayer.io/log-max-files"
)

// StateDirEnv names the folder holding logs/ and exits/.
const (
	StateDirEnv     = "ZLAYER_STATE_DIR"
	DefaultStateDir = "/var/lib/zlayer/containers"
)

// StateDir is $ZLAYER_STATE_DIR, or /var/lib/zlayer/containers.
func StateDir() string {
	if d := os.Getenv(StateDirEnv); d != "" {
		return d
	}
	return DefaultStateDir
}

// LogPath is where the shim writes the container's stdout and stderr.
func LogPath(stateDir, namespace, id string) string {
	return filepath.Join(stateDir, "logs", namespace, id+".log")
}

// ExitPath is where the shim records how the container's task ended.
func ExitPath(stateDir, namespace, id string) string {
	return filepath.Join(stateDir, "exits", namespace, id+".json")
}

// LogOptions reads the rotation annotations, with the defaults (10 MiB, 3
// files) for those absent. A bad value is an error naming the annotation.
func LogOptions(annotations map[string]string) (logfile.Options, error) {
	opts := logfile.Options{MaxSize: logfile.DefaultMaxSize, MaxFiles: logfile.DefaultMaxFiles}
	if v, ok := annotations[LogMaxSizeAnnotation]; ok {
		n, err := ParseSize(v)
		if err != nil {
			return opts, fmt.Errorf("annotation %s: %w", LogMaxSizeAnnotation, err)
		}
		opts.MaxSize = n
	}
	if v, ok := annotations[LogMaxFilesAnnotation]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			return opts, fmt.Errorf("annotation %s: %q is not a whole number of files of at least 1", LogMaxFilesAnnotation, v)
		}
		opts.MaxFiles = n
	}
	return opts, nil
}

// ParseSize reads "1048576", "512k", "10m", "10MiB", "1g", "1GB"; units are
// powers of 1024, as Docker reads log-opt max-size.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return !unicode.IsDigit(r) && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	var mult float64
	switch unit {
	case "", "b":
		mult = 1
	case "k", "kb", "kib":
		mult = 1 << 10
	case "m", "mb", "mib":
		mult = 1 << 20
	case "g", "gb", "gib":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("%q: unknown unit %q (use b, k, m or g)", s, unit)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a size (e.g. 10m, 512k, 1048576)", s)
	}
	if f*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("%q: size too large", s)
	}
	n := int64(f * mult)
	if n < 1 {
		return 0, fmt.Errorf("%q: size must be at least one byte", s)
	}
	return n, nil
}

// LoggerName is the logging binary that writes a container's stdout and
// stderr in the shim's format under any runtime that speaks containerd's
// binary:// log URI (io.containerd.runc.v2): the runtime starts it per task
// with the container's pipes as fds 3 and 4.
const LoggerName = "zlayer-logger"

// The logger's arguments. containerd turns each query parameter of the log
// URI into two arguments (name, value), in no fixed order; the runtime
// passes the logger no environment but the container's id and namespace.
const (
	loggerStateDir = "state-dir"
	loggerMaxSize  = "max-size"
	loggerMaxFiles = "max-files"
)

// LoggerArgs are the log URI's query parameters that make the logger write
// under stateDir, rotating as opts says.
func LoggerArgs(stateDir string, opts logfile.Options) map[string]string {
	return map[string]string{
		loggerStateDir: stateDir,
		loggerMaxSize:  strconv.FormatInt(opts.MaxSize, 10),
		loggerMaxFiles: strconv.Itoa(opts.MaxFiles),
	}
}

// ParseLoggerArgs reads the arguments LoggerArgs made, as the logger gets
// them (name value pairs in any order).
func ParseLoggerArgs(args []string) (stateDir string, opts logfile.Options, err error) {
	if len(args)%2 != 0 {
		return "", opts, fmt.Errorf("logger arguments come in name value pairs, got %q", args)
	}
	ann := map[string]string{}
	for i := 0; i < len(args); i += 2 {
		switch name, v := args[i], args[i+1]; name {
		case loggerStateDir:
			stateDir = v
		case loggerMaxSize:
			ann[LogMaxSizeAnnotation] = v
		case loggerMaxFiles:
			ann[LogMaxFilesAnnotation] = v
		default:
			return "", opts, fmt.Errorf("unknown logger argument %q", name)
		}
	}
	if !filepath.IsAbs(stateDir) {
		return "", opts, fmt.Errorf("logger argument %s must be an absolute path, got %q", loggerStateDir, stateDir)
	}
	opts, err = LogOptions(ann)
	return stateDir, opts, err
}
