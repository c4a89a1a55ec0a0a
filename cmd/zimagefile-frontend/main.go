// Command zimagefile-frontend is the entrypoint of the zlayer/zimagefile
// BuildKit gateway frontend image.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "zimagefile-frontend: not implemented yet (tracked in issue #3)")
	os.Exit(1)
}
