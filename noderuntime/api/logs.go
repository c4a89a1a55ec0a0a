package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"time"
)

// LogEntry is one line of a replica's output.
type LogEntry struct {
	Replica int       `json:"replica"`
	ID      string    `json:"id"`
	Time    time.Time `json:"time,omitzero"`
	Stream  string    `json:"stream,omitempty"`
	Log     string    `json:"log"`
}

// parseLine reads a line written by the zlayer shim (JSON: time, stream,
// log) or by runc's log file (raw text).
func parseLine(line []byte) LogEntry {
	if bytes.HasPrefix(line, []byte("{")) {
		var e struct {
			Time   time.Time `json:"time"`
			Stream string    `json:"stream"`
			Log    string    `json:"log"`
		}
		if json.Unmarshal(line, &e) == nil {
			if len(e.Log) > 0 && e.Log[len(e.Log)-1] == '\n' {
				e.Log = e.Log[:len(e.Log)-1]
			}
			return LogEntry{Time: e.Time, Stream: e.Stream, Log: e.Log}
		}
	}
	return LogEntry{Log: string(line)}
}

// tailFile returns the last n lines (all when n < 0) and the offset read to.
func tailFile(path string, n int) ([][]byte, int64) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0
	}
	defer f.Close()
	var lines [][]byte
	var off int64
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			off += int64(len(line))
			lines = append(lines, bytes.TrimRight(line, "\n"))
			if n >= 0 && len(lines) > n {
				lines = lines[1:]
			}
		}
		if err != nil {
			break
		}
	}
	if n == 0 {
		lines = nil
	}
	return lines, off
}

// readFrom reads complete lines after off; a file that shrank (rotated or
// truncated) is read again from its start.
func readFrom(path string, off int64) ([][]byte, int64) {
	f, err := os.Open(path)
	if err != nil {
		return nil, off
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() < off {
		off = 0
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, off
	}
	var lines [][]byte
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			break
		}
		off += int64(len(line))
		lines = append(lines, bytes.TrimRight(line, "\n"))
	}
	return lines, off
}
