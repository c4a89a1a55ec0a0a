package buildfile

import (
	"bufio"
	"bytes"
	"strings"
)

// dockerInstructions start a Dockerfile's first instruction line.
var dockerInstructions = map[string]bool{"FROM": true, "ARG": true}

// Detect tells a ZImagefile (YAML) from a Dockerfile by the first line that is
// neither blank nor a comment: a Dockerfile starts with FROM or ARG (or a
// parser directive), a ZImagefile with a YAML key.
func Detect(data []byte) Kind {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || line == "---" {
			continue
		}
		word, _, _ := strings.Cut(line, " ")
		if dockerInstructions[strings.ToUpper(strings.TrimRight(word, "\t"))] {
			return Dockerfile
		}
		if k, _, ok := strings.Cut(line, ":"); ok && !strings.ContainsAny(k, " \t") {
			return ZImagefile
		}
		return Dockerfile
	}
	return Dockerfile
}
