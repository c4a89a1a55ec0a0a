package buildfile

import "github.com/zlayer/zlayer/frontend/zimagefile"

// Detect tells a ZImagefile from a Dockerfile by content, with the same
// judgment the ZImagefile frontend uses, so the CLI and the frontend never
// disagree about a file.
func Detect(data []byte) Kind {
	if zimagefile.LooksLike(data) {
		return ZImagefile
	}
	return Dockerfile
}
