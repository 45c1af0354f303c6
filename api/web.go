package api

import (
	"embed"
	"io/fs"
	"net/http"
)

// The HUD's page and assets are built into the binary: no build step,
// no second server.
//
//go:embed web
var webFiles embed.FS

// web serves the HUD at / and its assets under /assets/.
func (s *Server) web(mux *http.ServeMux) {
	sub, _ := fs.Sub(webFiles, "web")
	assets := http.StripPrefix("/assets/", http.FileServerFS(sub))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w)
		http.ServeFileFS(w, r, sub, "index.html")
	})
	mux.HandleFunc("GET /assets/", func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w)
		assets.ServeHTTP(w, r)
	})
}

// pageHeaders: scripts and styles from the gateway alone, no framing,
// and the page is always fetched fresh (it is small and changes with the
// binary).
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}
