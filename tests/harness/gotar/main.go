// gotar lists a tar archive as Go's archive/tar (docker's reader) reads it: one JSON object per
// entry, then {"end": true} or {"error": "..."}. Built by tests/harness/gotar.py; stdlib only.
package main

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
)

type entry struct {
	Name     string `json:"name"`
	Linkname string `json:"linkname"`
	Type     string `json:"type"`
	Size     int64  `json:"size"`
	Mode     int64  `json:"mode"`
	UID      int    `json:"uid"`
	GID      int    `json:"gid"`
	MtimeNs  int64  `json:"mtime_ns"`
	// names as bytes (a NUL or invalid UTF-8 survives JSON this way)
	NameBytes []byte `json:"name_bytes"`
}

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	out := json.NewEncoder(os.Stdout)
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			out.Encode(map[string]bool{"end": true})
			return
		}
		if err != nil {
			out.Encode(map[string]string{"error": err.Error()})
			return
		}
		out.Encode(entry{h.Name, h.Linkname, string([]byte{h.Typeflag}), h.Size, h.Mode, h.Uid, h.Gid,
			h.ModTime.UnixNano(), []byte(h.Name)})
	}
}
