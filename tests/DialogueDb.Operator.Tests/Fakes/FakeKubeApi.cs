// An in-process Kubernetes API server for behaviour tests: the terminal handler of a real k8s.Kubernetes client.
//
// Simplifications against a real kube-apiserver (everything else aims to behave like one):
// - No schema, validation, defaulting or admission: bodies are stored as sent (apart from the server-owned metadata),
//   names are not checked, namespaces need not exist, unknown fields are kept.
// - Server-side apply tracks ownership in a side table (metadata.managedFields is not rendered). Lists are atomic
//   except the keyed lists named in FieldPaths (chosen by field name, not per type): finalizers (set),
//   ownerReferences (uid), conditions (type), apiKeys/containers/env/ports/volumes/imagePullSecrets (name),
//   volumeMounts (mountPath). A keyed list whose items lack the key is atomic. Containers left empty by a removal are
//   pruned. Apply bodies must be JSON (valid YAML); real YAML is refused with 400.
// - Strategic merge patch is a merge patch whose keyed lists (as above) merge item by item ($patch: delete works,
//   other directives are ignored).
// - Garbage collection is synchronous and background-only: when an object is really deleted, every object whose
//   ownerReferences name its uid and that has no other live owner is deleted at once (finalizers honoured);
//   propagationPolicy Orphan skips it. Foreground deletion is not modelled.
// - Writes to /status change only status (metadata changes in a /status write are ignored).
// - list ignores limit/continue (allowed: servers may return everything) and resourceVersionMatch; a list or watch
//   with a resourceVersion older than the last Compact() gets 410. History is kept until Compact().
// - BreakWatches does not compact: a client that resumes from its old resourceVersion afterwards still succeeds.
//   Call Compact() first to model an expired history.
// - A watch on a resourceVersion newer than the current one is served like a current one (no waiting).
// - Seeding (Put, Edit, Remove) bypasses subresource rules: Put and Edit may set status directly, which is how tests
//   play the part of the Deployment controller or the kubelet.
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace DialogueDb.Operator.Tests.Fakes;

/// <summary>One request the fake received. <see cref="Body"/> is set for writes only.</summary>
public sealed record RecordedRequest(string Method, string Path, string Query, string? Body);

/// <summary>In-memory Kubernetes API server; see the notes at the top of the file for what it does not model.</summary>
public sealed class FakeKubeApi : DelegatingHandler
{
    private const string SeedManager = "fake-seed";
    private const string EditManager = "kubectl-edit";

    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly Dictionary<ObjectKey, StoredObject> _objects = [];
    private readonly List<HistoryEntry> _history = [];
    private readonly List<FakeWatch> _watches = [];
    private readonly List<RecordedRequest> _requests = [];
    private readonly List<FailureRule> _failures = [];
    private long _resourceVersion = 100;
    private long _compactedAt;
    private int _writeCount;
    private bool _hangWatches;

    public FakeKubeApi(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
    }

    /// <summary>A client whose every request ends here; call as often as needed.</summary>
    /// <remarks>Each client gets its own thin terminal handler, because KubernetesClient sets InnerHandler on the
    /// handlers it is given, which a handler refuses once it has served a request.</remarks>
    public IKubernetes CreateClient() =>
        new k8s.Kubernetes(new KubernetesClientConfiguration { Host = "http://fake.local" }, new ClientHandler(this));

    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_gate)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>POST, PUT, PATCH and DELETE requests received, including refused and failed ones.</summary>
    public int WriteCount
    {
        get
        {
            lock (_gate)
            {
                return _writeCount;
            }
        }
    }

    /// <summary>The current (latest) resourceVersion of the whole store.</summary>
    public string ResourceVersion
    {
        get
        {
            lock (_gate)
            {
                return _resourceVersion.ToString(CultureInfo.InvariantCulture);
            }
        }
    }

    /// <summary>New watches get 200 and then nothing, never ending until the client gives up.</summary>
    public bool HangWatches
    {
        get
        {
            lock (_gate)
            {
                return _hangWatches;
            }
        }
        set
        {
            lock (_gate)
            {
                _hangWatches = value;
            }
        }
    }

    /// <summary>Watches of <paramref name="kind"/> opened while <see cref="HangWatches"/> was set that the client has not given up yet.</summary>
    public int HungWatchCount(string kind)
    {
        lock (_gate)
        {
            return _watches.Count(w => w.Hung && !w.IsClosed && w.Kind.Kind == kind);
        }
    }

    public int OpenWatchCount
    {
        get
        {
            lock (_gate)
            {
                return _watches.Count(w => !w.IsClosed);
            }
        }
    }

    public void ClearRequests()
    {
        lock (_gate)
        {
            _requests.Clear();
            _writeCount = 0;
        }
    }

    // ------------------------------------------------------------------ inspection and seeding

    public JsonObject? Get(string apiVersion, string kind, string? ns, string name)
    {
        var resource = ResourceKinds.Require(apiVersion, kind);
        lock (_gate)
        {
            return _objects.TryGetValue(Key(resource, ns, name), out var stored) ? Clone(stored.Object) : null;
        }
    }

    public T? Get<T>(string? ns, string name)
        where T : IKubernetesObject
    {
        var (apiVersion, kind) = TypeIdentity(typeof(T), null);
        var found = Get(apiVersion, kind, ns, name);
        return found is null ? default : KubernetesJson.Deserialize<T>(found.ToJsonString());
    }

    public IReadOnlyList<JsonObject> List(string apiVersion, string kind, string? ns = null)
    {
        var resource = ResourceKinds.Require(apiVersion, kind);
        lock (_gate)
        {
            return [.. Select(resource, ns, LabelSelector.Everything, FieldSelector.Parse(null)).Select(Clone)];
        }
    }

    /// <summary>Creates or replaces an object as a write by another client would (new resourceVersion, watch
    /// event), with no subresource rules: status is stored as given.</summary>
    public void Put(object obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        var json = obj as JsonObject is { } given ? Clone(given) : JsonNode.Parse(KubernetesJson.Serialize(obj))!.AsObject();
        var (apiVersion, kindName) = TypeIdentity(obj.GetType(), json);
        json["apiVersion"] = apiVersion;
        json["kind"] = kindName;
        var kind = ResourceKinds.Require(apiVersion, kindName);
        var ns = kind.Namespaced
            ? Str(json, "metadata", "namespace") ?? throw new ArgumentException("A namespaced object needs metadata.namespace.", nameof(obj))
            : null;
        lock (_gate)
        {
            var name = Str(json, "metadata", "name");
            if (name is not null && _objects.TryGetValue(Key(kind, ns, name), out var stored))
            {
                Update(kind, stored, json, WriteScope.All, OwnerKey(SeedManager, apply: false, status: false), owners: null);
            }
            else
            {
                Create(kind, json, WriteScope.All, OwnerKey(SeedManager, apply: false, status: false));
            }
        }
    }

    /// <summary>Changes an object as <c>kubectl edit</c> would (any field, status included).</summary>
    public void Edit(string apiVersion, string kind, string? ns, string name, Action<JsonObject> change) =>
        Edit(apiVersion, kind, ns, name, EditManager, change);

    /// <summary>Changes an object as a write by <paramref name="fieldManager"/> would (any field, status included).</summary>
    public void Edit(string apiVersion, string kind, string? ns, string name, string fieldManager, Action<JsonObject> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var resource = ResourceKinds.Require(apiVersion, kind);
        lock (_gate)
        {
            if (!_objects.TryGetValue(Key(resource, ns, name), out var stored))
            {
                throw new InvalidOperationException($"{resource.QualifiedResource} {ns}/{name} does not exist.");
            }

            var candidate = Clone(stored.Object);
            change(candidate);
            Update(resource, stored, candidate, WriteScope.All, OwnerKey(fieldManager, apply: false, status: false), owners: null);
        }
    }

    /// <summary>Deletes like <c>kubectl delete</c>: finalizers only mark the object; a missing object is ignored.</summary>
    public void Remove(string apiVersion, string kind, string? ns, string name)
    {
        var resource = ResourceKinds.Require(apiVersion, kind);
        lock (_gate)
        {
            var key = Key(resource, ns, name);
            if (_objects.ContainsKey(key))
            {
                Delete(key, orphan: false);
            }
        }
    }

    // ------------------------------------------------------------------ fault injection

    /// <summary>The next <paramref name="times"/> requests that <paramref name="match"/> accepts are answered with
    /// <paramref name="code"/> and a Status body, without touching the store.</summary>
    public void FailNext(Func<HttpRequestMessage, bool> match, HttpStatusCode code, int times = 1)
    {
        ArgumentNullException.ThrowIfNull(match);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(times);
        lock (_gate)
        {
            _failures.Add(new FailureRule(match, code, times));
        }
    }

    /// <summary>Sends a BOOKMARK with the current resourceVersion to every watch that allowed bookmarks.</summary>
    public void SendBookmarks()
    {
        lock (_gate)
        {
            foreach (var watch in LiveWatches().Where(w => w.Bookmarks))
            {
                SendBookmark(watch);
            }
        }
    }

    /// <summary>Sends an in-stream ERROR 410 "too old resource version" to every open watch, then ends it.</summary>
    public void BreakWatches()
    {
        lock (_gate)
        {
            foreach (var watch in LiveWatches())
            {
                var status = StatusBody(HttpStatusCode.Gone, "Expired",
                    $"too old resource version: {_compactedAt} ({_resourceVersion})", null);
                watch.Send("ERROR", status);
                watch.Close();
            }
        }
    }

    /// <summary>Ends every open watch normally, as a server-side timeout does (with a last bookmark when allowed).</summary>
    public void EndWatches()
    {
        lock (_gate)
        {
            foreach (var watch in LiveWatches())
            {
                EndWatch(watch);
            }
        }
    }

    /// <summary>Forgets the history: lists and watches from any older resourceVersion now get 410 Gone.</summary>
    public void Compact()
    {
        lock (_gate)
        {
            _compactedAt = _resourceVersion;
            _history.Clear();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_gate)
            {
                foreach (var watch in _watches.ToArray())
                {
                    watch.Close();
                }
            }
        }

        base.Dispose(disposing);
    }

    // ------------------------------------------------------------------ HTTP

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        SendAsync(request, cancellationToken).GetAwaiter().GetResult();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        var response = Handle(request, body);
        response.RequestMessage = request;
        return response;
    }

    private HttpResponseMessage Handle(HttpRequestMessage request, string? body)
    {
        var uri = request.RequestUri ?? throw new ArgumentException("A request needs a URI.", nameof(request));
        var method = request.Method.Method;
        var isWrite = method is "POST" or "PUT" or "PATCH" or "DELETE";
        lock (_gate)
        {
            _requests.Add(new RecordedRequest(method, uri.AbsolutePath, uri.Query.TrimStart('?'), isWrite ? body : null));
            if (isWrite)
            {
                _writeCount++;
            }

            var rule = _failures.FirstOrDefault(f => f.Match(request));
            if (rule is not null)
            {
                if (--rule.Remaining == 0)
                {
                    _failures.Remove(rule);
                }

                return Failure(new ApiError(rule.Code, ReasonOf(rule.Code), $"injected failure ({(int)rule.Code})"));
            }

            try
            {
                return Dispatch(request, method, uri, body);
            }
            catch (ApiError error)
            {
                return Failure(error);
            }
            catch (PatchException error)
            {
                return Failure(new ApiError(error.Malformed ? HttpStatusCode.BadRequest : HttpStatusCode.UnprocessableEntity,
                    error.Malformed ? "BadRequest" : "Invalid", error.Message));
            }
            catch (SelectorException error)
            {
                return Failure(new ApiError(HttpStatusCode.BadRequest, "BadRequest", error.Message));
            }
        }
    }

    private HttpResponseMessage Dispatch(HttpRequestMessage request, string method, Uri uri, string? body)
    {
        var route = Route.Parse(uri.AbsolutePath)
            ?? throw new ApiError(HttpStatusCode.NotFound, "NotFound", "the server could not find the requested resource");
        var query = ParseQuery(uri.Query);
        switch (method)
        {
            case "GET" when route.Name is null:
                return query.TryGetValue("watch", out var watch) && watch is "true" or "1"
                    ? OpenWatch(route, query)
                    : ListResponse(route, query);
            case "GET":
                return JsonResponse(HttpStatusCode.OK, Clone(Find(route).Object));
            case "POST" when route.Name is null && route.Namespace is not null || route.Name is null && !route.Kind.Namespaced:
                return HandleCreate(request, route, query, ParseObject(body));
            case "PUT" when route.Name is not null:
                return HandleReplace(request, route, query, ParseObject(body));
            case "PATCH" when route.Name is not null:
                return HandlePatch(request, route, query, body);
            case "DELETE" when route.Name is not null:
                return HandleDelete(route, body);
            default:
                throw new ApiError(HttpStatusCode.MethodNotAllowed, "MethodNotAllowed", $"the server does not allow this method on the requested resource ({method})");
        }
    }

    private HttpResponseMessage ListResponse(Route route, Dictionary<string, string> query)
    {
        CheckNotCompacted(query.GetValueOrDefault("resourceVersion"));
        var items = new JsonArray([.. Select(route.Kind, route.Namespace, LabelSelector.Parse(query.GetValueOrDefault("labelSelector")),
            FieldSelector.Parse(query.GetValueOrDefault("fieldSelector"))).Select(Clone)]);
        var list = new JsonObject
        {
            ["apiVersion"] = route.Kind.ApiVersion,
            ["kind"] = route.Kind.Kind + "List",
            ["metadata"] = new JsonObject { ["resourceVersion"] = _resourceVersion.ToString(CultureInfo.InvariantCulture) },
            ["items"] = items,
        };
        return JsonResponse(HttpStatusCode.OK, list);
    }

    private HttpResponseMessage HandleCreate(HttpRequestMessage request, Route route, Dictionary<string, string> query, JsonObject obj)
    {
        if (route.Status)
        {
            throw new ApiError(HttpStatusCode.MethodNotAllowed, "MethodNotAllowed", "create is not allowed on a subresource");
        }

        CheckIdentity(route, obj, requireTypeMeta: false);
        // A create never sets status through the main resource of a kind with a status subresource.
        if (route.Kind.StatusSubresource)
        {
            obj.Remove("status");
        }

        var created = Create(route.Kind, obj, MainScope(route.Kind), OwnerKey(Manager(request, query), apply: false, status: false));
        return JsonResponse(HttpStatusCode.Created, Clone(created));
    }

    private HttpResponseMessage HandleReplace(HttpRequestMessage request, Route route, Dictionary<string, string> query, JsonObject obj)
    {
        var stored = Find(route);
        CheckIdentity(route, obj, requireTypeMeta: false);
        CheckPrecondition(route, stored, Str(obj, "metadata", "resourceVersion"));
        var updated = Update(route.Kind, stored, obj, Scope(route), OwnerKey(Manager(request, query), apply: false, route.Status), owners: null);
        return JsonResponse(HttpStatusCode.OK, Clone(updated));
    }

    private HttpResponseMessage HandlePatch(HttpRequestMessage request, Route route, Dictionary<string, string> query, string? body)
    {
        var mediaType = request.Content?.Headers.ContentType?.MediaType;
        if (mediaType == "application/apply-patch+yaml")
        {
            return HandleApply(route, query, ParseObject(body));
        }

        var stored = Find(route);
        JsonNode? patch;
        try
        {
            patch = JsonNode.Parse(body ?? "");
        }
        catch (JsonException e)
        {
            throw new ApiError(HttpStatusCode.BadRequest, "BadRequest", "the patch is not valid JSON: " + e.Message);
        }

        var current = Clone(stored.Object);
        var patched = mediaType switch
        {
            "application/merge-patch+json" => JsonPatches.MergePatch(current, patch, strategic: false),
            "application/strategic-merge-patch+json" => JsonPatches.MergePatch(current, patch, strategic: true),
            "application/json-patch+json" => JsonPatches.ApplyJsonPatch(current, patch),
            _ => throw new ApiError(HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaType", $"the body of the request was in an unknown format: {mediaType}"),
        };
        if (patched is not JsonObject result)
        {
            throw new ApiError(HttpStatusCode.UnprocessableEntity, "Invalid", "the patch must leave an object");
        }

        // A resourceVersion in the patch is a precondition: the patched object then carries a stale one.
        CheckPrecondition(route, stored, Str(result, "metadata", "resourceVersion"));
        var updated = Update(route.Kind, stored, result, Scope(route), OwnerKey(Manager(request, query), apply: false, route.Status), owners: null);
        return JsonResponse(HttpStatusCode.OK, Clone(updated));
    }

    private HttpResponseMessage HandleApply(Route route, Dictionary<string, string> query, JsonObject config)
    {
        var manager = query.GetValueOrDefault("fieldManager");
        if (string.IsNullOrEmpty(manager))
        {
            throw new ApiError(HttpStatusCode.BadRequest, "BadRequest", "PATCH, application/apply-patch+yaml requires fieldManager to be set");
        }

        CheckIdentity(route, config, requireTypeMeta: true);
        var force = query.GetValueOrDefault("force") is "true" or "1";
        var ownerKey = OwnerKey(manager, apply: true, route.Status);
        if (!_objects.TryGetValue(route.Key, out var stored))
        {
            if (route.Status)
            {
                throw NotFound(route.Kind, route.Name!);
            }

            var fresh = Clone(config);
            if (route.Kind.StatusSubresource)
            {
                fresh.Remove("status");
            }

            var created = Create(route.Kind, fresh, MainScope(route.Kind), ownerKey);
            return JsonResponse(HttpStatusCode.Created, Clone(created));
        }

        CheckPrecondition(route, stored, Str(config, "metadata", "resourceVersion"));
        var scope = Scope(route);
        var applied = Restrict(config, scope);
        var wanted = FieldPaths.Collect(applied, scope);
        var live = FieldPaths.Collect(stored.Object, scope);
        var owners = stored.Owners.ToDictionary(p => p.Key, p => new HashSet<string>(p.Value, StringComparer.Ordinal), StringComparer.Ordinal);

        var conflicts = new List<(string Manager, string Path)>();
        foreach (var (path, value) in wanted)
        {
            if (FieldPaths.IsItem(path) || !live.TryGetValue(path, out var current) || JsonNode.DeepEquals(current, value))
            {
                continue;
            }

            conflicts.AddRange(owners.Where(o => o.Key != ownerKey && o.Value.Contains(path)).Select(o => (o.Key, path)));
        }

        if (conflicts.Count > 0 && !force)
        {
            throw ConflictError(route.Kind, conflicts);
        }

        foreach (var (owner, path) in conflicts)
        {
            owners[owner].Remove(path);
        }

        var next = Clone(stored.Object);
        FieldPaths.MergeApply(next, applied);
        var previous = owners.GetValueOrDefault(ownerKey) ?? [];
        owners[ownerKey] = [.. wanted.Keys];
        // Fields this manager applied before and dropped now go, unless someone else still owns them (or something in them).
        // Shortest first, so that a dropped list item goes as a whole before its key field could be removed from it.
        foreach (var path in previous.Where(p => !wanted.ContainsKey(p)).OrderBy(p => p.Length))
        {
            var prefix = path + FieldPaths.Separator;
            if (!owners.Values.Any(set => set.Contains(path) || set.Any(p => p.StartsWith(prefix, StringComparison.Ordinal))))
            {
                FieldPaths.Remove(next, path, container => owners.Values.Any(set => set.Contains(container)));
            }
        }

        Prune(owners);
        var updated = Update(route.Kind, stored, next, scope, ownerKey, owners);
        return JsonResponse(HttpStatusCode.OK, Clone(updated));
    }

    private HttpResponseMessage HandleDelete(Route route, string? body)
    {
        var stored = Find(route);
        if (route.Status)
        {
            throw new ApiError(HttpStatusCode.MethodNotAllowed, "MethodNotAllowed", "delete is not allowed on the status subresource");
        }

        var options = string.IsNullOrWhiteSpace(body) ? null : JsonNode.Parse(body) as JsonObject;
        var wantedRv = options?["preconditions"]?["resourceVersion"]?.GetValue<string>();
        var wantedUid = options?["preconditions"]?["uid"]?.GetValue<string>();
        if (wantedRv is not null && wantedRv != Str(stored.Object, "metadata", "resourceVersion")
            || wantedUid is not null && wantedUid != Str(stored.Object, "metadata", "uid"))
        {
            throw new ApiError(HttpStatusCode.Conflict, "Conflict",
                $"Operation cannot be fulfilled on {route.Kind.QualifiedResource} \"{route.Name}\": Precondition failed: the object has changed",
                Details(route.Kind, route.Name));
        }

        var orphan = options?["propagationPolicy"]?.GetValue<string>() == "Orphan" || options?["orphanDependents"]?.GetValue<bool>() == true;
        var (last, deleted) = Delete(route.Key, orphan);
        if (!deleted)
        {
            return JsonResponse(HttpStatusCode.Accepted, Clone(last));
        }

        if (route.Kind.Custom)
        {
            return JsonResponse(HttpStatusCode.OK, Clone(last));
        }

        var success = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Success",
            ["details"] = Details(route.Kind, route.Name, Str(last, "metadata", "uid")),
        };
        return JsonResponse(HttpStatusCode.OK, success);
    }

    private HttpResponseMessage OpenWatch(Route route, Dictionary<string, string> query)
    {
        var labels = LabelSelector.Parse(query.GetValueOrDefault("labelSelector"));
        var fields = FieldSelector.Parse(query.GetValueOrDefault("fieldSelector"));
        var bookmarks = query.GetValueOrDefault("allowWatchBookmarks") is "true" or "1";
        var watch = new FakeWatch(route.Kind, route.Namespace, labels, fields, bookmarks, _hangWatches, OnWatchClosed);
        if (!watch.Hung)
        {
            var rvText = query.GetValueOrDefault("resourceVersion");
            CheckNotCompacted(rvText);
            if (string.IsNullOrEmpty(rvText) || rvText == "0")
            {
                foreach (var obj in Select(route.Kind, route.Namespace, labels, fields))
                {
                    watch.Send("ADDED", obj);
                }
            }
            else
            {
                var since = long.Parse(rvText, CultureInfo.InvariantCulture);
                foreach (var entry in _history.Where(e => e.ResourceVersion > since && e.Kind == route.Kind))
                {
                    Deliver(watch, entry);
                }
            }

            if (query.TryGetValue("timeoutSeconds", out var timeoutText) && int.TryParse(timeoutText, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
            {
                watch.Timeout = _time.CreateTimer(_ =>
                {
                    lock (_gate)
                    {
                        EndWatch(watch);
                    }
                }, null, TimeSpan.FromSeconds(seconds), Timeout.InfiniteTimeSpan);
            }
        }

        _watches.Add(watch);
        var content = new StreamContent(watch.Stream);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
    }

    private void OnWatchClosed(FakeWatch watch)
    {
        lock (_gate)
        {
            _watches.Remove(watch);
        }
    }

    private FakeWatch[] LiveWatches() => [.. _watches.Where(w => !w.Hung && !w.IsClosed)];

    private void EndWatch(FakeWatch watch)
    {
        if (watch.IsClosed)
        {
            return;
        }

        if (watch.Bookmarks)
        {
            SendBookmark(watch);
        }

        watch.Close();
    }

    private void SendBookmark(FakeWatch watch) => watch.Send("BOOKMARK", new JsonObject
    {
        ["apiVersion"] = watch.Kind.ApiVersion,
        ["kind"] = watch.Kind.Kind,
        ["metadata"] = new JsonObject { ["resourceVersion"] = _resourceVersion.ToString(CultureInfo.InvariantCulture) },
    });

    // ------------------------------------------------------------------ store semantics (callers hold _gate)

    private JsonObject Create(ResourceKind kind, JsonObject obj, WriteScope scope, string ownerKey)
    {
        var metadata = obj["metadata"] as JsonObject ?? [];
        obj["metadata"] = metadata;
        obj["apiVersion"] = kind.ApiVersion;
        obj["kind"] = kind.Kind;
        var name = metadata["name"]?.GetValue<string>();
        if (string.IsNullOrEmpty(name))
        {
            var prefix = metadata["generateName"]?.GetValue<string>();
            if (string.IsNullOrEmpty(prefix))
            {
                throw new ApiError(HttpStatusCode.UnprocessableEntity, "Invalid",
                    $"{kind.Kind} \"\" is invalid: metadata.name: Required value: name or generateName is required");
            }

            do
            {
                name = prefix + RandomNumberGenerator.GetString("bcdfghjklmnpqrstvwxz2456789", 5);
            }
            while (_objects.ContainsKey(Key(kind, Str(obj, "metadata", "namespace"), name)));
            metadata["name"] = name;
        }

        var key = Key(kind, kind.Namespaced ? Str(obj, "metadata", "namespace") : null, name);
        if (_objects.ContainsKey(key))
        {
            throw new ApiError(HttpStatusCode.Conflict, "AlreadyExists", $"{kind.QualifiedResource} \"{name}\" already exists", Details(kind, name));
        }

        foreach (var field in new[] { "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink", "generation" })
        {
            metadata.Remove(field);
        }

        if (!kind.Namespaced)
        {
            metadata.Remove("namespace");
        }

        metadata["uid"] = Guid.NewGuid().ToString();
        metadata["creationTimestamp"] = Now();
        if (kind.HasGeneration)
        {
            metadata["generation"] = 1L;
        }

        var stored = new StoredObject(obj);
        stored.Owners[ownerKey] = [.. FieldPaths.Collect(obj, scope).Keys];
        Prune(stored.Owners);
        metadata["resourceVersion"] = NextResourceVersion();
        _objects[key] = stored;
        Record("ADDED", kind, null, obj);
        return obj;
    }

    /// <summary>The common end of every update: subresource rules, server-owned metadata, generation, finalizer
    /// rules, ownership, and no write at all when nothing changed.</summary>
    private JsonObject Update(ResourceKind kind, StoredObject stored, JsonObject candidate, WriteScope scope, string ownerKey,
        Dictionary<string, HashSet<string>>? owners)
    {
        var old = stored.Object;
        var next = candidate;
        if (scope == WriteScope.Status)
        {
            next = Clone(old);
            SetOrRemove(next, "status", candidate["status"]?.DeepClone());
        }
        else if (scope == WriteScope.Main)
        {
            SetOrRemove(next, "status", old["status"]?.DeepClone());
        }

        next["apiVersion"] = kind.ApiVersion;
        next["kind"] = kind.Kind;
        var metadata = next["metadata"] as JsonObject ?? [];
        next["metadata"] = metadata;
        var oldMetadata = old["metadata"]!.AsObject();
        foreach (var field in new[] { "name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion" })
        {
            SetOrRemove(metadata, field, oldMetadata[field]?.DeepClone());
        }

        metadata.Remove("managedFields");
        metadata.Remove("selfLink");

        var deleting = oldMetadata["deletionTimestamp"] is not null;
        var finalizers = Finalizers(next);
        if (deleting && finalizers.Except(Finalizers(old)).Any())
        {
            throw new ApiError(HttpStatusCode.UnprocessableEntity, "Invalid",
                $"{kind.Kind} \"{Str(old, "metadata", "name")}\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted",
                Details(kind, Str(old, "metadata", "name")));
        }

        if (kind.HasGeneration && !JsonNode.DeepEquals(WithoutMetadataAndStatus(old), WithoutMetadataAndStatus(next)))
        {
            metadata["generation"] = (oldMetadata["generation"] is { } oldGeneration ? AsLong(oldGeneration) : 0) + 1;
        }

        if (owners is null)
        {
            owners = stored.Owners.ToDictionary(p => p.Key, p => new HashSet<string>(p.Value, StringComparer.Ordinal), StringComparer.Ordinal);
            TakeChangedFields(owners, ownerKey, old, next, scope);
        }

        if (JsonNode.DeepEquals(old, next) && SameOwners(stored.Owners, owners))
        {
            return old;
        }

        stored.Owners = owners;
        if (deleting && finalizers.Count == 0)
        {
            return DeleteNow(Key(kind, Str(old, "metadata", "namespace"), Str(old, "metadata", "name")!), next, orphan: false);
        }

        metadata["resourceVersion"] = NextResourceVersion();
        stored.Object = next;
        Record("MODIFIED", kind, old, next);
        return next;
    }

    /// <summary>A non-apply write owns every field it changed, taking it from whoever had it; removed fields are
    /// nobody's.</summary>
    private static void TakeChangedFields(Dictionary<string, HashSet<string>> owners, string ownerKey, JsonObject old, JsonObject next, WriteScope scope)
    {
        var before = FieldPaths.Collect(old, scope);
        var after = FieldPaths.Collect(next, scope);
        foreach (var (path, value) in after)
        {
            if (before.TryGetValue(path, out var previous) && (FieldPaths.IsItem(path) || JsonNode.DeepEquals(previous, value)))
            {
                continue;
            }

            foreach (var set in owners.Values)
            {
                set.Remove(path);
            }

            if (!owners.TryGetValue(ownerKey, out var mine))
            {
                owners[ownerKey] = mine = new HashSet<string>(StringComparer.Ordinal);
            }

            mine.Add(path);
        }

        foreach (var path in before.Keys.Where(p => !after.ContainsKey(p)))
        {
            foreach (var set in owners.Values)
            {
                set.Remove(path);
            }
        }

        Prune(owners);
    }

    private (JsonObject Last, bool Deleted) Delete(ObjectKey key, bool orphan)
    {
        var stored = _objects[key];
        var obj = stored.Object;
        if (Finalizers(obj).Count == 0)
        {
            return (DeleteNow(key, Clone(obj), orphan), true);
        }

        if (obj["metadata"]?["deletionTimestamp"] is not null)
        {
            return (obj, false);
        }

        var next = Clone(obj);
        var metadata = next["metadata"]!.AsObject();
        metadata["deletionTimestamp"] = Now();
        metadata["deletionGracePeriodSeconds"] = 0;
        // The real server bumps generation when it marks an object for deletion.
        if (metadata["generation"] is { } generation)
        {
            metadata["generation"] = AsLong(generation) + 1;
        }

        metadata["resourceVersion"] = NextResourceVersion();
        stored.Object = next;
        Record("MODIFIED", key.Kind, obj, next);
        return (next, false);
    }

    private JsonObject DeleteNow(ObjectKey key, JsonObject last, bool orphan)
    {
        var previous = _objects[key].Object;
        _objects.Remove(key);
        last["metadata"]!["resourceVersion"] = NextResourceVersion();
        Record("DELETED", key.Kind, previous, last);
        if (!orphan && Str(last, "metadata", "uid") is { } uid)
        {
            CollectGarbage(uid);
        }

        return last;
    }

    private void CollectGarbage(string ownerUid)
    {
        var dependents = _objects
            .Where(o => OwnerUids(o.Value.Object).Contains(ownerUid))
            .Select(o => o.Key)
            .ToList();
        foreach (var dependent in dependents)
        {
            if (!_objects.TryGetValue(dependent, out var stored))
            {
                continue;
            }

            var otherOwners = OwnerUids(stored.Object).Where(u => u != ownerUid).ToHashSet(StringComparer.Ordinal);
            if (otherOwners.Count > 0 && _objects.Values.Any(o => Str(o.Object, "metadata", "uid") is { } u && otherOwners.Contains(u)))
            {
                continue;
            }

            Delete(dependent, orphan: false);
        }
    }

    private void Record(string type, ResourceKind kind, JsonObject? before, JsonObject after)
    {
        var entry = new HistoryEntry(long.Parse(Str(after, "metadata", "resourceVersion")!, CultureInfo.InvariantCulture), type, kind, before, after);
        _history.Add(entry);
        foreach (var watch in LiveWatches().Where(w => w.Kind == kind))
        {
            Deliver(watch, entry);
        }
    }

    /// <summary>Sends one change as the watch sees it through its selectors: an object that starts or stops
    /// matching is ADDED or DELETED for that watch.</summary>
    private static void Deliver(FakeWatch watch, HistoryEntry entry)
    {
        var now = watch.Matches(entry.After);
        var before = entry.Before is not null && watch.Matches(entry.Before);
        var type = entry.Type switch
        {
            "ADDED" => now ? "ADDED" : null,
            "DELETED" => before || now ? "DELETED" : null,
            _ => (before, now) switch
            {
                (true, true) => "MODIFIED",
                (false, true) => "ADDED",
                (true, false) => "DELETED",
                _ => null,
            },
        };
        if (type is not null)
        {
            watch.Send(type, entry.After);
        }
    }

    // ------------------------------------------------------------------ helpers

    private StoredObject Find(Route route) =>
        _objects.TryGetValue(route.Key, out var stored) ? stored : throw NotFound(route.Kind, route.Name!);

    private List<JsonObject> Select(ResourceKind kind, string? ns, LabelSelector labels, FieldSelector fields) =>
        _objects
            .Where(o => o.Key.Kind == kind && (ns is null || o.Key.Namespace == ns))
            .OrderBy(o => o.Key.Namespace, StringComparer.Ordinal)
            .ThenBy(o => o.Key.Name, StringComparer.Ordinal)
            .Select(o => o.Value.Object)
            .Where(o => labels.Matches(o) && fields.Matches(o))
            .ToList();

    private void CheckNotCompacted(string? resourceVersion)
    {
        if (string.IsNullOrEmpty(resourceVersion) || resourceVersion == "0")
        {
            return;
        }

        if (!long.TryParse(resourceVersion, NumberStyles.None, CultureInfo.InvariantCulture, out var rv))
        {
            throw new ApiError(HttpStatusCode.BadRequest, "BadRequest", $"invalid resource version: {resourceVersion}");
        }

        if (rv < _compactedAt)
        {
            throw new ApiError(HttpStatusCode.Gone, "Expired", $"too old resource version: {rv} ({_compactedAt})");
        }
    }

    private static void CheckPrecondition(Route route, StoredObject stored, string? resourceVersion)
    {
        if (!string.IsNullOrEmpty(resourceVersion) && resourceVersion != Str(stored.Object, "metadata", "resourceVersion"))
        {
            throw new ApiError(HttpStatusCode.Conflict, "Conflict",
                $"Operation cannot be fulfilled on {route.Kind.QualifiedResource} \"{route.Name}\": the object has been modified; please apply your changes to the latest version and try again",
                Details(route.Kind, route.Name));
        }
    }

    /// <summary>The body must describe the object the URL names.</summary>
    private static void CheckIdentity(Route route, JsonObject obj, bool requireTypeMeta)
    {
        var apiVersion = obj["apiVersion"]?.GetValue<string>();
        var kind = obj["kind"]?.GetValue<string>();
        if (requireTypeMeta && (string.IsNullOrEmpty(apiVersion) || string.IsNullOrEmpty(kind)))
        {
            throw new ApiError(HttpStatusCode.BadRequest, "BadRequest", "apiVersion and kind must be set in an apply configuration");
        }

        if (apiVersion is not null && apiVersion != route.Kind.ApiVersion || kind is not null && kind != route.Kind.Kind)
        {
            throw new ApiError(HttpStatusCode.BadRequest, "BadRequest",
                $"the API version ({apiVersion}) and kind ({kind}) in the body do not match the request ({route.Kind.ApiVersion} {route.Kind.Kind})");
        }

        var metadata = obj["metadata"] as JsonObject ?? [];
        obj["metadata"] = metadata;
        var name = metadata["name"]?.GetValue<string>();
        if (route.Name is not null && name is not null && name != route.Name)
        {
            throw new ApiError(HttpStatusCode.BadRequest, "BadRequest", "the name of the object does not match the name on the URL");
        }

        if (route.Name is not null)
        {
            metadata["name"] = route.Name;
        }

        var ns = metadata["namespace"]?.GetValue<string>();
        if (route.Kind.Namespaced && ns is not null && ns != route.Namespace)
        {
            throw new ApiError(HttpStatusCode.BadRequest, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request");
        }

        if (route.Kind.Namespaced)
        {
            metadata["namespace"] = route.Namespace;
        }
    }

    /// <summary>The part of an apply configuration the write may touch, without server-owned metadata.</summary>
    private static JsonObject Restrict(JsonObject config, WriteScope scope)
    {
        var result = new JsonObject();
        foreach (var (name, value) in config)
        {
            if (name is "apiVersion" or "kind")
            {
                continue;
            }

            if (name == "metadata")
            {
                if (scope != WriteScope.Status && value is JsonObject metadata)
                {
                    result["metadata"] = new JsonObject(metadata
                        .Where(f => !FieldPaths.IsSystemMetadata(f.Key) && f.Key != "generateName")
                        .Select(f => KeyValuePair.Create(f.Key, f.Value?.DeepClone())));
                }

                continue;
            }

            if (FieldPaths.InScope(name, scope))
            {
                result[name] = value?.DeepClone();
            }
        }

        return result;
    }

    private static ApiError ConflictError(ResourceKind kind, List<(string Manager, string Path)> conflicts)
    {
        var causes = new JsonArray();
        var lines = new List<string>();
        foreach (var (owner, path) in conflicts)
        {
            var manager = owner[..owner.IndexOf('\u001e', StringComparison.Ordinal)];
            var message = $"conflict with \"{manager}\" using {kind.ApiVersion}";
            causes.Add(new JsonObject { ["reason"] = "FieldManagerConflict", ["message"] = message, ["field"] = FieldPaths.Describe(path) });
            lines.Add($"{message}: {FieldPaths.Describe(path)}");
        }

        var details = new JsonObject { ["causes"] = causes };
        var plural = conflicts.Count == 1 ? "conflict" : "conflicts";
        return new ApiError(HttpStatusCode.Conflict, "Conflict", $"Apply failed with {conflicts.Count} {plural}: {string.Join("\n", lines)}", details);
    }

    private static string OwnerKey(string manager, bool apply, bool status) =>
        manager + '\u001e' + (apply ? "Apply" : "Update") + (status ? "/status" : "");

    /// <summary>The manager of a non-apply write: the fieldManager parameter, else the user agent's product name
    /// (as the real server derives it).</summary>
    private static string Manager(HttpRequestMessage request, Dictionary<string, string> query) =>
        query.GetValueOrDefault("fieldManager") is { Length: > 0 } manager
            ? manager
            : request.Headers.UserAgent.FirstOrDefault(p => p.Product is not null)?.Product!.Name ?? "unknown";

    private static WriteScope MainScope(ResourceKind kind) => kind.StatusSubresource ? WriteScope.Main : WriteScope.All;

    private static WriteScope Scope(Route route) => route.Status ? WriteScope.Status : MainScope(route.Kind);

    private static void Prune(Dictionary<string, HashSet<string>> owners)
    {
        foreach (var key in owners.Where(o => o.Value.Count == 0).Select(o => o.Key).ToList())
        {
            owners.Remove(key);
        }
    }

    private static bool SameOwners(Dictionary<string, HashSet<string>> a, Dictionary<string, HashSet<string>> b) =>
        a.Count == b.Count && a.All(p => b.TryGetValue(p.Key, out var other) && other.SetEquals(p.Value));

    private static List<string> Finalizers(JsonObject obj) =>
        obj["metadata"]?["finalizers"] is JsonArray list ? [.. list.Select(f => f?.ToString() ?? "")] : [];

    private static List<string> OwnerUids(JsonObject obj) =>
        obj["metadata"]?["ownerReferences"] is JsonArray refs ? [.. refs.Select(r => r?["uid"]?.ToString() ?? "")] : [];

    private static JsonObject WithoutMetadataAndStatus(JsonObject obj) =>
        new(obj.Where(p => p.Key is not ("metadata" or "status")).Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone())));

    private static void SetOrRemove(JsonObject obj, string field, JsonNode? value)
    {
        if (value is null)
        {
            obj.Remove(field);
        }
        else
        {
            obj[field] = value;
        }
    }

    private static string? Str(JsonObject obj, string section, string field) => obj[section]?[field]?.GetValue<string>();

    // Numbers parsed from a request and numbers set here have different CLR types inside JsonValue.
    private static long AsLong(JsonNode node) => long.Parse(node.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

    private static JsonObject Clone(JsonObject obj) => obj.DeepClone().AsObject();

    private string NextResourceVersion() => (++_resourceVersion).ToString(CultureInfo.InvariantCulture);

    private string Now() => _time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static ObjectKey Key(ResourceKind kind, string? ns, string name) => new(kind, kind.Namespaced ? ns ?? "" : "", name);

    private static JsonObject ParseObject(string? body)
    {
        try
        {
            return JsonNode.Parse(body ?? "") as JsonObject
                ?? throw new ApiError(HttpStatusCode.BadRequest, "BadRequest", "the body must be a JSON object");
        }
        catch (JsonException e)
        {
            throw new ApiError(HttpStatusCode.BadRequest, "BadRequest", "the body is not valid JSON: " + e.Message);
        }
    }

    private static Dictionary<string, string> ParseQuery(string query)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var at = pair.IndexOf('=', StringComparison.Ordinal);
            var name = Uri.UnescapeDataString(at < 0 ? pair : pair[..at]);
            result[name] = at < 0 ? "" : Uri.UnescapeDataString(pair[(at + 1)..].Replace('+', ' '));
        }

        return result;
    }

    private static (string ApiVersion, string Kind) TypeIdentity(Type type, JsonObject? json)
    {
        if (json?["apiVersion"]?.GetValue<string>() is { Length: > 0 } apiVersion && json["kind"]?.GetValue<string>() is { Length: > 0 } kind)
        {
            return (apiVersion, kind);
        }

        if (type.GetCustomAttribute<KubernetesEntityAttribute>() is { } entity)
        {
            return (string.IsNullOrEmpty(entity.Group) ? entity.ApiVersion : entity.Group + "/" + entity.ApiVersion, entity.Kind);
        }

        if (Activator.CreateInstance(type) is IKubernetesObject instance && !string.IsNullOrEmpty(instance.ApiVersion) && !string.IsNullOrEmpty(instance.Kind))
        {
            return (instance.ApiVersion, instance.Kind);
        }

        throw new ArgumentException($"Cannot tell the apiVersion and kind of {type.Name}.", nameof(type));
    }

    private static ApiError NotFound(ResourceKind kind, string name) =>
        new(HttpStatusCode.NotFound, "NotFound", $"{kind.QualifiedResource} \"{name}\" not found", Details(kind, name));

    private static JsonObject Details(ResourceKind kind, string? name, string? uid = null)
    {
        var details = new JsonObject { ["name"] = name, ["group"] = kind.Group, ["kind"] = kind.Plural };
        if (uid is not null)
        {
            details["uid"] = uid;
        }

        return details;
    }

    private static string ReasonOf(HttpStatusCode code) => code switch
    {
        HttpStatusCode.BadRequest => "BadRequest",
        HttpStatusCode.Unauthorized => "Unauthorized",
        HttpStatusCode.Forbidden => "Forbidden",
        HttpStatusCode.NotFound => "NotFound",
        HttpStatusCode.MethodNotAllowed => "MethodNotAllowed",
        HttpStatusCode.Conflict => "Conflict",
        HttpStatusCode.Gone => "Expired",
        HttpStatusCode.UnprocessableEntity => "Invalid",
        HttpStatusCode.TooManyRequests => "TooManyRequests",
        HttpStatusCode.GatewayTimeout => "Timeout",
        HttpStatusCode.ServiceUnavailable => "ServiceUnavailable",
        _ => "InternalError",
    };

    private static JsonObject StatusBody(HttpStatusCode code, string reason, string message, JsonObject? details)
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = message,
            ["reason"] = reason,
        };
        if (details is not null)
        {
            status["details"] = details;
        }

        status["code"] = (int)code;
        return status;
    }

    private static HttpResponseMessage Failure(ApiError error) =>
        JsonResponse(error.Code, StatusBody(error.Code, error.Reason, error.Message, error.Details));

    private static HttpResponseMessage JsonResponse(HttpStatusCode code, JsonNode body) =>
        new(code) { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };

    // ------------------------------------------------------------------ types

    private sealed class ApiError(HttpStatusCode code, string reason, string message, JsonObject? details = null) : Exception(message)
    {
        public HttpStatusCode Code { get; } = code;

        public string Reason { get; } = reason;

        public JsonObject? Details { get; } = details;
    }

    private sealed class ClientHandler(FakeKubeApi api) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            api.SendAsync(request, cancellationToken);
    }

    private sealed class FailureRule(Func<HttpRequestMessage, bool> match, HttpStatusCode code, int times)
    {
        public Func<HttpRequestMessage, bool> Match { get; } = match;

        public HttpStatusCode Code { get; } = code;

        public int Remaining { get; set; } = times;
    }

    private sealed class StoredObject(JsonObject obj)
    {
        public JsonObject Object { get; set; } = obj;

        /// <summary>Field sets per "manager U+001E operation[/status]", the fake's managedFields.</summary>
        public Dictionary<string, HashSet<string>> Owners { get; set; } = new(StringComparer.Ordinal);
    }

    private readonly record struct ObjectKey(ResourceKind Kind, string Namespace, string Name);

    /// <summary>One change; objects in history are never mutated afterwards (every write stores a fresh copy).</summary>
    private sealed record HistoryEntry(long ResourceVersion, string Type, ResourceKind Kind, JsonObject? Before, JsonObject After);

    /// <summary>A request URL as KubernetesClient builds it.</summary>
    private sealed record Route(ResourceKind Kind, string? Namespace, string? Name, bool Status)
    {
        public ObjectKey Key => FakeKubeApi.Key(Kind, Namespace, Name ?? "");

        public static Route? Parse(string path)
        {
            var segments = path.Trim('/').Split('/').Select(Uri.UnescapeDataString).ToArray();
            string apiVersion;
            string[] rest;
            if (segments is ["api", "v1", .. var core])
            {
                (apiVersion, rest) = ("v1", core);
            }
            else if (segments is ["apis", var group, var version, .. var named])
            {
                (apiVersion, rest) = (group + "/" + version, named);
            }
            else
            {
                return null;
            }

            if (rest is ["namespaces", var ns, var plural, .. var tail] && ResourceKinds.ByPlural(apiVersion, plural) is { Namespaced: true } namespaced)
            {
                return Item(namespaced, ns, tail);
            }

            if (rest is [var clusterPlural, .. var clusterTail] && ResourceKinds.ByPlural(apiVersion, clusterPlural) is { } kind)
            {
                // A namespaced kind has only the all-namespaces collection outside /namespaces/{ns}.
                return kind.Namespaced && clusterTail.Length > 0 ? null : Item(kind, null, clusterTail);
            }

            return null;
        }

        private static Route? Item(ResourceKind kind, string? ns, string[] tail) => tail switch
        {
            [] => new Route(kind, ns, null, false),
            [var name] => new Route(kind, ns, name, false),
            [var name, "status"] when kind.StatusSubresource => new Route(kind, ns, name, true),
            _ => null,
        };
    }
}
