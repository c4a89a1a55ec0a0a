package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/registry"
)

// imageRoutes adds the image store's endpoints (import stays in Handler):
// reads need the read token, deletes the admin token, as every route.
func (s *Server) imageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/images", s.listImages)
	mux.HandleFunc("GET /v1/images/digests/{digest}", s.imagesByDigest)
	mux.HandleFunc("DELETE /v1/images/{name...}", s.removeImage)
	mux.HandleFunc("POST /v1/images/prune", s.pruneImages)
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request) {
	imgs, err := s.Controller.Images(r.Context())
	if err != nil {
		writeErr(w, 500, "internal", err.Error())
		return
	}
	writeJSON(w, 200, wireImageInfos(imgs))
}

// imagesByDigest answers the images whose manifest (or index) or config
// has the digest, 404 when none: a client loading an image asks first
// and sends only what the node lacks.
func (s *Server) imagesByDigest(w http.ResponseWriter, r *http.Request) {
	d := r.PathValue("digest")
	if err := digest.Digest(d).Validate(); err != nil {
		writeErr(w, 400, "bad_request", "invalid digest "+d+": "+err.Error())
		return
	}
	imgs, err := s.Controller.ImagesByDigest(r.Context(), d)
	if err != nil {
		writeErr(w, 500, "internal", err.Error())
		return
	}
	if len(imgs) == 0 {
		writeErr(w, 404, "not_found", "no image with digest "+d)
		return
	}
	writeJSON(w, 200, wireImageInfos(imgs))
}

func (s *Server) removeImage(w http.ResponseWriter, r *http.Request) {
	force, ok := boolParam(w, r, "force")
	if !ok {
		return
	}
	name := r.PathValue("name")
	if _, err := registry.Normalize(name); err != nil {
		writeErr(w, 400, "bad_request", err.Error())
		return
	}
	rm, err := s.Controller.RemoveImage(r.Context(), name, force)
	// The garbage collection may outlast the write timeout counted from
	// the request.
	s.extendWrite(w)
	var inUse *reconcile.InUseError
	switch {
	case errors.As(err, &inUse):
		writeErr(w, 409, "in_use", "image "+inUse.Name+" is used by "+strings.Join(inUse.UsedBy, ", ")+
			"; remove or change those services first, or force it (running replicas go on, new ones need the image again)")
		return
	case errdefs.IsNotFound(err):
		writeErr(w, 404, "not_found", err.Error())
		return
	case err != nil:
		writeErr(w, 500, "internal", err.Error())
		return
	}
	s.Log.Info("image removed", "image", rm.Name, "digest", rm.Digest, "freed", rm.Freed, "force", force)
	writeJSON(w, 200, wireRemoved(rm))
}

func (s *Server) pruneImages(w http.ResponseWriter, r *http.Request) {
	removed, err := s.Controller.PruneImages(r.Context())
	s.extendWrite(w)
	out := apitypes.Pruned{Removed: []apitypes.RemovedImage{}}
	for _, rm := range removed {
		out.Removed = append(out.Removed, wireRemoved(rm))
		out.Freed += rm.Freed
	}
	if err != nil {
		// What was deleted before the failure is in the log, not lost.
		s.Log.Warn("image prune failed part way", "removed", len(removed), "err", err)
		writeErr(w, 500, "internal", err.Error())
		return
	}
	s.Log.Info("images pruned", "removed", len(out.Removed), "freed", out.Freed)
	writeJSON(w, 200, out)
}

// boolParam reads an optional boolean query parameter: absent, 1/true or
// 0/false.
func boolParam(w http.ResponseWriter, r *http.Request, name string) (bool, bool) {
	switch v := r.URL.Query().Get(name); v {
	case "", "0", "false":
		return false, true
	case "1", "true":
		return true, true
	default:
		writeErr(w, 400, "bad_request", name+" must be 1, true, 0 or false, not "+v)
		return false, false
	}
}

func wireImageInfos(imgs []reconcile.ImageInfo) []apitypes.ImageInfo {
	out := make([]apitypes.ImageInfo, 0, len(imgs))
	for _, i := range imgs {
		used := append([]string{}, i.UsedBy...)
		out = append(out, apitypes.ImageInfo{Name: i.Name, Digest: i.Digest, ConfigDigest: i.ConfigDigest,
			Size: i.Size, CreatedAt: i.CreatedAt, UsedBy: used})
	}
	return out
}

func wireRemoved(rm reconcile.RemovedImage) apitypes.RemovedImage {
	return apitypes.RemovedImage{Name: rm.Name, Digest: rm.Digest, Freed: rm.Freed}
}
