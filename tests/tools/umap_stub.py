#!/usr/bin/python3
# A stand-in for a uMap instance in tests: the endpoints umapsync's uMap remotes use, answered
# as uMap's views (umap/views.py, urls.py, decorators.py) do, with uMap's own merge_features.
#
# umap_stub.py --map FIXTURE.json --port-file FILE [--lang fr] [--script-name /umap]
#              [--lifetime 120] [--private] [--not-umap] [--anonymous]
# FIXTURE: {"id": 42, "slug": "s", "settings": {...umap settings...}, "sessions": ["SID"],
#           "layers": [{"uuid", "name", "rank", "parent", "settings", "geojson"}]}
# Listens on 127.0.0.1:0, writes the port to the port file, exits after --lifetime seconds.
# --anonymous: the map has no owner (made by someone not signed in): only the anonymous owner
# cookie that its anonymous edit link sets (MapAnonymousEditUrl) lets one edit it; sessions
# do not, and a save without the cookie is answered 403 as can_edit_map/can_edit_datalayer do.
# Test controls (not uMap's): POST /__stub/edit/UUID (body: a FeatureCollection saved as a
# new version by someone else), /__stub/settings (body: settings saved by someone else),
# GET /__stub/edit-link (the map's anonymous edit link, as Map.get_anonymous_edit_url makes it
# for its creator), POST /__stub/owner (someone signs in and takes the map: AttachAnonymousMap),
# /__stub/edit-link-elsewhere (the link redirects to another host), /__stub/rotate-csrf, /__stub/expire-csrf-next (the token the next map page sets is stale at once), /__stub/drop-after/N (the datalayer POSTs after the next N have their
# connection dropped unanswered, until /__stub/drop-after/off), GET /__stub/state.
import argparse
import email.parser
import email.policy
import http.cookies
import json
import os
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from django.conf import settings

# uMap signs with Django's signing and the instance's SECRET_KEY: a new one for each run
settings.configure(SECRET_KEY=secrets.token_urlsafe(40), DEFAULT_CHARSET="utf-8")
from django.core import signing  # noqa: E402
from django.http import HttpResponseRedirect  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "umap-py"))
from umap_merge import ConflictError, json_dumps, layers_tree, merge_features  # noqa: E402

KEEP_VERSIONS = 10  # uMap's UMAP_KEEP_VERSIONS default
ANONYMOUS_COOKIE_MAX_AGE = 60 * 60 * 24 * 30  # umap/views.py: one month
LOCK = threading.Lock()


class Layer:
    def __init__(self, uuid, name, rank, parent, settings, geojson):
        self.uuid, self.name, self.rank, self.parent = uuid, name, rank, parent
        self.settings = settings or {}
        self.versions = []  # [{"ref","at","data"}], newest last
        self.save(json_dumps(geojson).encode())

    def save(self, data):
        ref = int(time.time() * 1000)
        if self.versions and ref <= int(self.versions[-1]["ref"]):
            ref = int(self.versions[-1]["ref"]) + 1
        self.versions.append({"ref": str(ref), "at": ref, "data": data})
        del self.versions[:-KEEP_VERSIONS]

    @property
    def reference_version(self):
        return self.versions[-1]["ref"]

    @property
    def data(self):
        return self.versions[-1]["data"]

    def metadata(self, can_edit):
        # DataLayer.metadata
        return {"properties": {**self.settings, "name": self.name}, "id": self.uuid, "rank": self.rank,
                "parent": self.parent, "permissions": {"edit_status": 1},
                "editMode": "advanced" if can_edit else "disabled", "referenceVersion": self.reference_version}


class State:
    def __init__(self, fixture, args):
        self.map_id = fixture["id"]
        self.slug = fixture.get("slug", "map")
        self.settings = fixture.get("settings", {"type": "Feature", "properties": {}})
        self.sessions = set(fixture.get("sessions", []))
        self.layers = {}
        for spec in fixture.get("layers", []):
            self.layers[spec["uuid"]] = Layer(spec["uuid"], spec.get("name", ""), spec.get("rank", 0),
                                              spec.get("parent"), spec.get("settings"), spec["geojson"])
        self.csrf = secrets.token_hex(16)
        self.drop_after = None
        self.prefix = args.script_name.rstrip("/")
        self.lang = args.lang
        self.private = args.private
        self.posts = 0
        self.not_umap = args.not_umap
        self.expire_csrf_next = False
        self.anonymous = args.anonymous  # Map.owner is None
        self.edit_link_elsewhere = False


def url_templates(state):
    p, lang = state.prefix, state.lang
    return {
        "map": f"{p}/{lang}/map/{{slug}}_{{map_id}}",
        "map_geojson": f"{p}/{lang}/map/{{map_id}}/geojson/",
        "map_download": f"{p}/map/{{map_id}}/download/",
        "map_update": f"{p}/{lang}/map/{{map_id}}/update/settings/",
        "datalayer_view": f"{p}/{lang}/datalayer/{{map_id}}/{{pk}}/",
        "datalayer_versions": f"{p}/{lang}/datalayer/{{map_id}}/{{pk}}/versions/",
        "datalayer_version": f"{p}/{lang}/datalayer/{{map_id}}/{{pk}}/{{ref}}",
        "datalayer_create": f"{p}/{lang}/map/{{map_id}}/datalayer/create/{{pk}}/",
        "datalayer_update": f"{p}/{lang}/map/{{map_id}}/datalayer/update/{{pk}}/",
        "datalayer_delete": f"{p}/{lang}/map/{{map_id}}/datalayer/delete/{{pk}}/",
        "login": f"{p}/{lang}/login/",
    }


UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, fmt, *args):
        sys.stderr.write("umap_stub: %s %s\n" % (self.command, self.path))

    # --- helpers -----------------------------------------------------------------------
    def cookies(self):
        jar = http.cookies.SimpleCookie()
        try:
            jar.load(self.headers.get("Cookie", ""))
        except http.cookies.CookieError:
            pass
        return {k: v.value for k, v in jar.items()}

    def authenticated(self):
        return self.cookies().get("sessionid") in self.state.sessions

    def anonymous_owner(self):
        # Map.is_anonymous_owner: request.get_signed_cookie("anonymous_owner|PK") == PK, while
        # the map has no owner
        s = self.state
        if not s.anonymous:
            return False
        key = "anonymous_owner|%s" % s.map_id
        value = self.cookies().get(key)
        if value is None:
            return False
        try:
            return int(signing.get_cookie_signer(salt=key).unsign(value)) == s.map_id
        except (signing.BadSignature, ValueError):
            return False

    def can_edit(self):
        # Map.can_edit with edit_status OWNER: the owner's session, or the anonymous owner cookie
        return self.anonymous_owner() if self.state.anonymous else self.authenticated()

    def anonymous_edit(self, signature):
        # MapAnonymousEditUrl.get: the signed pk (sha256, else the older sha1), 403 otherwise;
        # a redirect to the map that sets the anonymous owner cookie while the map has no owner
        s = self.state
        try:
            pk = signing.Signer().unsign(signature)
        except signing.BadSignature:
            try:
                pk = signing.Signer(algorithm="sha1").unsign(signature)
            except signing.BadSignature:
                return self.send(403, "", "text/html")
        if str(pk) != str(s.map_id):
            return self.not_found()
        target = f"{s.prefix}/{s.lang}/map/{s.slug}_{s.map_id}"
        if s.edit_link_elsewhere:
            target = "http://umap.invalid" + target
        response = HttpResponseRedirect(target)
        if s.anonymous:
            response.set_signed_cookie(key="anonymous_owner|%s" % s.map_id, value=s.map_id,
                                       max_age=ANONYMOUS_COOKIE_MAX_AGE)
        self.send_response(302)
        self.send_header("Location", response["Location"])
        for morsel in response.cookies.values():
            self.send_header("Set-Cookie", morsel.OutputString())
        self.send_header("Content-Length", "0")
        self.end_headers()

    def edit_link(self):
        # Map.get_anonymous_edit_url: SITE_URL + reverse("map_anonymous_edit_url")
        s = self.state
        signature = signing.Signer().sign(s.map_id)
        return f"http://{self.headers.get('Host')}{s.prefix}/{s.lang}/map/anonymous-edit/{signature}"

    def send(self, status, body=b"", ctype="application/json", headers=None, csrf_cookie=False):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if csrf_cookie:
            self.send_header("Set-Cookie", f"csrftoken={self.state.csrf}; Path=/; SameSite=Lax")
        self.end_headers()
        self.wfile.write(body)

    def json(self, status=200, headers=None, **data):
        self.send(status, json_dumps(data), headers=headers)

    def not_found(self):
        self.send(404, "<h1>Not Found</h1>", "text/html")

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def form(self, body):
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            fields = {}
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                fields[name] = part.get_payload(decode=True)
            return fields
        return {k: v[0].encode() for k, v in parse_qs(body.decode()).items()}

    def csrf_ok(self):
        # CsrfViewMiddleware: the cookie and the header must both carry the current secret
        return (self.cookies().get("csrftoken") == self.state.csrf and
                self.headers.get("X-CSRFToken") == self.state.csrf)

    def strip(self, path):
        if self.state.prefix:
            if not path.startswith(self.state.prefix + "/"):
                return None
            path = path[len(self.state.prefix):]
        return path

    def map_geojson(self):
        s = self.state
        can_edit = self.can_edit()
        geojson = json.loads(json_dumps(s.settings))
        props = geojson.setdefault("properties", {})
        props.update({"urls": url_templates(s), "tilelayers": [{"name": "OSM"}], "editMode":
                      "advanced" if can_edit else "disabled", "schema": {"zoom": {"type": "int"}},
                      "id": s.map_id, "umap_version": "3.0.0-stub", "user": {"id": 1, "name": "alice"}
                      if can_edit else {}, "lang": s.lang, "locale": s.lang})
        props["permissions"] = {"edit_status": 3, "share_status": 1}
        layers = [l.metadata(can_edit) for l in sorted(s.layers.values(), key=lambda l: l.rank)]
        props["datalayers"] = layers_tree(layers)
        return geojson

    # --- GET ---------------------------------------------------------------------------
    def do_GET(self):
        with LOCK:
            self.get()

    def get(self):
        s = self.state
        url = urlsplit(self.path)
        path = self.strip(url.path)
        if url.path == "/__stub/state":
            return self.json(layers={u: {"version": l.reference_version, "versions": len(l.versions),
                                          "geojson": json.loads(l.data), "settings": l.settings,
                                          "name": l.name, "rank": l.rank, "parent": l.parent}
                                      for u, l in s.layers.items()}, settings=s.settings, posts=s.posts)
        if url.path == "/__stub/edit-link":
            return self.json(url=self.edit_link())
        if path is None:
            return self.not_found()
        if s.not_umap:
            return self.send(200, "<html><body>It works!</body></html>", "text/html")
        if path == f"/map/{s.map_id}/download/":
            umapjson = json.loads(json_dumps(s.settings))
            umapjson["type"] = "umap"
            umapjson["uri"] = f"http://{self.headers.get('Host')}{s.prefix}/{s.lang}/map/{s.slug}_{s.map_id}"
            include = parse_qs(url.query).get("include_data", ["1"])[0] != "0"
            layers = []
            for l in s.layers.values():
                layer = json.loads(l.data) if include else {}
                layer.update({"id": l.uuid, "parent": l.parent, "properties": {**l.settings, "name": l.name}})
                layers.append(layer)
            umapjson["layers"] = layers_tree(layers, keep_ids=False)
            return self.json(**umapjson)
        m = re.fullmatch(r"/([a-z]{2}(?:-[a-z]+)?)(/.*)", path)
        if not m or m.group(1) != s.lang:
            return self.not_found()
        rest = m.group(2)
        am = re.fullmatch(r"/map/anonymous-edit/([^/]+)", rest)
        if am:
            return self.anonymous_edit(unquote(am.group(1)))
        if s.private and not self.authenticated() and rest.startswith("/map/"):
            self.send(302, "", "text/html", {"Location": f"{s.prefix}/{s.lang}/login/?next={url.path}"})
            return
        if rest == "/login/":
            return self.send(200, "<html><form>login</form></html>", "text/html", csrf_cookie=True)
        mm = re.fullmatch(r"/map/([-\w]+)_(\d+)", rest)
        if mm:
            if int(mm.group(2)) != s.map_id:
                return self.not_found()
            if mm.group(1) != s.slug:  # MapView.get: permanent redirect to the canonical URL
                return self.send(301, "", "text/html",
                                 {"Location": f"{s.prefix}/{s.lang}/map/{s.slug}_{s.map_id}"}, csrf_cookie=True)
            if s.expire_csrf_next:  # the token given here expires at once
                s.expire_csrf_next = False
                self.send(200, "<html>stale</html>", "text/html", csrf_cookie=True)
                s.csrf = secrets.token_hex(16)
                return
            page = ("<!DOCTYPE html><html><body><div id=\"map\"></div><script type=\"module\">"
                    "U.MAP = new U.Map(\"map\", %s)</script></body></html>") % json_dumps(self.map_geojson())
            return self.send(200, page, "text/html", csrf_cookie=True)
        if rest == f"/map/{s.map_id}/geojson/":
            return self.json(**self.map_geojson())
        dm = re.fullmatch(r"/datalayer/(\d+)/(%s)/(.*)" % UUID, rest)
        if dm and int(dm.group(1)) == s.map_id and dm.group(2) in s.layers:
            layer = s.layers[dm.group(2)]
            tail = dm.group(3)
            if tail == "":
                return self.send(200, layer.data, "application/geo+json",
                                 {"X-Datalayer-Version": layer.reference_version})
            if tail == "versions/":
                return self.json(versions=[{"name": f"{layer.uuid}_{v['ref']}.geojson", "ref": v["ref"],
                                            "at": v["at"], "size": len(v["data"])}
                                           for v in reversed(layer.versions)])
            for v in layer.versions:
                if v["ref"] == tail:
                    return self.send(200, v["data"], "application/geo+json", {"X-Datalayer-Version": tail})
            return self.send(404, "Invalid version reference", "text/html")
        return self.not_found()

    # --- POST --------------------------------------------------------------------------
    def do_POST(self):
        body = self.read_body()
        with LOCK:
            self.post(body)

    def post(self, body):
        s = self.state
        url = urlsplit(self.path)
        if url.path.startswith("/__stub/"):
            return self.control(url.path[len("/__stub/"):], body)
        path = self.strip(url.path)
        m = re.fullmatch(r"/([a-z]{2}(?:-[a-z]+)?)/map/(\d+)/(.*)", path or "")
        if not m or m.group(1) != s.lang or int(m.group(2)) != s.map_id:
            return self.not_found()
        rest = m.group(3)
        if not self.csrf_ok():
            return self.send(403, "<h1>Forbidden (403)</h1><p>CSRF verification failed. Request aborted.</p>",
                             "text/html")
        if self.headers.get("X-Requested-With") != "XMLHttpRequest":
            return self.send(400, "not an ajax request", "text/html")
        # can_edit_map: an owned map, an anonymous visitor -> login_required; else 403 (a map
        # without owner and no anonymous owner cookie)
        if not self.can_edit():
            if s.anonymous:
                return self.send(403, "<h1>403 Forbidden</h1>", "text/html")
            return self.json(login_required=f"{s.prefix}/{s.lang}/login/")
        if rest == "update/settings/":
            fields = self.form(body)
            try:
                settings = json.loads(fields.get("settings", b"{}"))
            except ValueError:
                return self.json(errors={"settings": ["invalid"]}, error="invalid settings")
            s.settings = settings
            return self.json(id=s.map_id, url=f"{s.prefix}/{s.lang}/map/{s.slug}_{s.map_id}")
        dm = re.fullmatch(r"datalayer/(create|update|delete)/(%s)/" % UUID, rest)
        if not dm:
            return self.not_found()
        action, uuid = dm.groups()
        if action in ("create", "update"):
            s.posts += 1
            if s.drop_after is not None:
                if s.drop_after == 0:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                s.drop_after -= 1
        if action == "delete":
            if uuid not in s.layers:
                return self.not_found()
            del s.layers[uuid]
            return self.json(info="Layer successfully deleted.")
        fields = self.form(body)
        if "geojson" not in fields:
            return self.json(errors={"geojson": ["This field is required."]}, error="geojson: required")
        try:
            incoming = json.loads(fields["geojson"])
            settings = json.loads(fields.get("settings", b"{}"))
        except ValueError:
            return self.json(errors={"geojson": ["invalid"]}, error="invalid json")
        name = fields.get("name", b"").decode()
        rank = int(fields.get("rank", b"0") or 0)
        parent = fields.get("parent", b"").decode() or None
        if action == "create":
            if uuid in s.layers:
                return self.send(400, "UUID already exists", "text/html")
            layer = Layer(uuid, name, rank, parent, settings, incoming)
            s.layers[uuid] = layer
            return self.json(headers={"X-Datalayer-Version": layer.reference_version}, **layer.metadata(True))
        if uuid not in s.layers:
            return self.not_found()
        layer = s.layers[uuid]
        reference = self.headers.get("X-Datalayer-Reference")
        data = fields["geojson"]
        reload = False
        if reference and reference != layer.reference_version:  # DataLayerUpdate.post
            ref = next((v for v in layer.versions if v["ref"] == reference), None)
            if ref is None:
                return self.send(412, "")
            latest = json.loads(layer.data)
            try:
                latest["features"] = merge_features(json.loads(ref["data"]).get("features", []),
                                                    latest.get("features", []), incoming.get("features", []))
            except ConflictError:
                return self.send(412, "")
            data = json_dumps(latest).encode()
            reload = True
        layer.name, layer.rank, layer.parent, layer.settings = name, rank, parent, settings
        layer.save(data)
        meta = layer.metadata(True)
        if reload:
            meta["geojson"] = json.loads(layer.data)
        return self.json(headers={"X-Datalayer-Version": layer.reference_version}, **meta)

    def control(self, what, body):
        s = self.state
        if what == "rotate-csrf":
            s.csrf = secrets.token_hex(16)
        elif what == "owner":
            s.anonymous = False
        elif what == "edit-link-elsewhere":
            s.edit_link_elsewhere = True
        elif what == "expire-csrf-next":
            s.expire_csrf_next = True
        elif what == "settings":
            s.settings = json.loads(body)
        elif what.startswith("edit/"):
            layer = s.layers[what[5:]]
            layer.save(json_dumps(json.loads(body)).encode())
        elif what == "drop-after/off":
            s.drop_after = None
        elif what.startswith("drop-after/"):
            s.drop_after = int(what[len("drop-after/"):])
        else:
            return self.not_found()
        return self.json(ok=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--map", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--lang", default="fr")
    ap.add_argument("--script-name", default="")
    ap.add_argument("--lifetime", type=float, default=120)
    ap.add_argument("--private", action="store_true")
    ap.add_argument("--not-umap", action="store_true", help="answer every GET with a plain page")
    ap.add_argument("--anonymous", action="store_true",
                    help="the map has no owner: its anonymous edit link gives edit rights")
    args = ap.parse_args()
    with open(args.map) as f:
        Handler.state = State(json.load(f), args)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    threading.Timer(args.lifetime, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
