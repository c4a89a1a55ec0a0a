package logfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRotatingKeepsBoundedFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.log")
	r, err := Open(p, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, err := r.Write([]byte(strings.Repeat("a", 19) + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	for _, n := range []string{p, p + ".1", p + ".2"} {
		st, err := os.Stat(n)
		if err != nil || st.Size() > 100 {
			t.Fatalf("%s: %v %v", n, st, err)
		}
	}
	if _, err := os.Stat(p + ".3"); err == nil {
		t.Fatal("kept too many")
	}
}
