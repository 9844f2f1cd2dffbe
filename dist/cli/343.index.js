export const id = 343;
export const ids = [343];
export const modules = {

/***/ 86343:
/***/ (function(__unused_webpack_module, exports, __webpack_require__) {


var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
var __importDefault = (this && this.__importDefault) || function (mod) {
    return (mod && mod.__esModule) ? mod : { "default": mod };
};
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.runDemo = runDemo;
// `oci-channel demo`: the whole flow on sample packages, on disk (oci-layout:) or against a real registry.
// Builds packages, uploads them to staging, validates and promotes them (one is refused, with its reason), marks
// one build broken, reindexes production into a static channel, serves it on loopback and solves an environment
// with rattler. The tables are the ones the commands print.
const promises_1 = __webpack_require__(51455);
const node_http_1 = __importDefault(__webpack_require__(37067));
const node_os_1 = __importDefault(__webpack_require__(48161));
const node_path_1 = __importDefault(__webpack_require__(76760));
const node_module_1 = __webpack_require__(98995);
const conda_1 = __webpack_require__(6611);
const pipeline = __importStar(__webpack_require__(61524));
const label_ts_1 = __webpack_require__(9059);
const promotion_ts_1 = __webpack_require__(65876);
const reindex_ts_1 = __webpack_require__(80842);
const output_ts_1 = __webpack_require__(57101);
const FEEDSTOCK = 'sample';
/** Small packages with dependencies between them; `+` in a version, a name starting with `_`, both formats. */
const SAMPLES = [
    { name: '_sample_mutex', version: '1.0', build: 'main', subdir: 'linux-64', formats: ['conda'], summary: 'selects the sample variant' },
    { name: 'libsample', version: '2.0.1+demo', build: 'h1a2b3c4_0', subdir: 'linux-64', depends: ['_sample_mutex 1.0 main'], formats: ['conda', 'tar.bz2'], summary: 'a sample C library' },
    { name: 'sample-data', version: '2024.1', build: 'pyhd8ed1ab_0', subdir: 'noarch', noarch: 'generic', formats: ['conda'], summary: 'sample data files' },
    { name: 'sampletool', version: '0.3.0', build: 'h5d6e7f8_1', subdir: 'linux-64', depends: ['libsample >=2', 'sample-data'], formats: ['conda'], summary: 'a sample command line tool' },
];
/** Uploaded by someone who does not own the name: validation refuses it. */
const INTRUDER = { name: 'intruder', version: '1.0', build: 'h0_0', subdir: 'linux-64', formats: ['conda'], summary: 'not ours' };
/** Marked broken after promotion (an admin's correction): it leaves the index, its file stays. */
const BROKEN = 'linux-64/libsample-2.0.1+demo-h1a2b3c4_0.tar.bz2';
function heading(o, n, text) {
    o.write(`\n== ${n}. ${text}\n\n`);
}
function joinLocation(base, sub) {
    return `${base.replace(/\/+$/, '')}/${sub}`;
}
async function serve(dir) {
    const root = node_path_1.default.resolve(dir);
    const server = node_http_1.default.createServer((req, res) => {
        const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
        const file = node_path_1.default.join(root, pathname);
        if (!file.startsWith(root + node_path_1.default.sep)) {
            res.statusCode = 403;
            res.end();
            return;
        }
        (0, promises_1.readFile)(file).then((data) => res.end(data), () => {
            res.statusCode = 404;
            res.end();
        });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address();
    return {
        url: `http://127.0.0.1:${port}/`,
        close: () => new Promise((resolve) => server.close(() => resolve())),
    };
}
async function runDemo(o) {
    const work = o.keep ? node_path_1.default.resolve(o.keep) : await (0, promises_1.mkdtemp)(node_path_1.default.join(node_os_1.default.tmpdir(), 'oci-channel-demo-'));
    await (0, promises_1.mkdir)(work, { recursive: true });
    const run = new Date().toISOString().replace(/[-:T.Z]/g, '').slice(0, 14);
    const staging = o.registry ? joinLocation(o.registry, `demo${run}/staging`) : `oci-layout:${node_path_1.default.join(work, 'staging')}`;
    const production = o.registry ? joinLocation(o.registry, `demo${run}/production`) : `oci-layout:${node_path_1.default.join(work, 'production')}`;
    const printer = o.verbose ? (0, output_ts_1.progressPrinter)() : undefined;
    const progress = printer?.progress;
    let exit = 0;
    try {
        o.write(`oci-channel demo\n  staging:    ${staging}\n  production: ${production}\n  work dir:   ${work}${o.keep ? '' : ' (removed at the end)'}\n`);
        heading(o, 1, 'Build sample conda packages');
        const built = node_path_1.default.join(work, 'packages');
        await (0, promises_1.mkdir)(built, { recursive: true });
        const files = [];
        const artifacts = [];
        for (const s of [...SAMPLES, INTRUDER]) {
            for (const format of s.formats) {
                const file = await (0, conda_1.buildPackage)(built, {
                    name: s.name,
                    version: s.version,
                    build: s.build,
                    subdir: s.subdir,
                    ...(s.noarch ? { noarch: s.noarch } : {}),
                    ...(s.depends ? { depends: s.depends } : {}),
                    license: 'BSD-3-Clause',
                    payloadBytes: 64 * 1024,
                    extraInfo: { 'about.json': JSON.stringify({ summary: s.summary, license: 'BSD-3-Clause', home: 'https://example.org/sample' }) },
                }, format);
                files.push(file);
                artifacts.push({ subdir: s.subdir, filename: node_path_1.default.basename(file) });
            }
        }
        o.write((0, output_ts_1.table)(['SUBDIR', 'FILE', 'DEPENDS'], [...SAMPLES, INTRUDER].flatMap((s) => s.formats.map((f) => [s.subdir, `${s.name}-${s.version}-${s.build}.${f}`, (s.depends ?? []).join(', ') || '-']))));
        heading(o, 2, 'Upload to staging');
        const uploaded = await pipeline.upload({ to: staging, files, progress });
        o.write((0, output_ts_1.table)(['STATUS', 'ARTIFACT', 'SIZE', 'REPOSITORY:TAG'], uploaded.artifacts.map((a) => [a.status, `${a.subdir}/${a.filename}`, (0, output_ts_1.formatBytes)(a.size), `${a.repository}:${a.tag}`])));
        o.write('\nRepository names follow the conda OCI layout (v0): <subdir>/<name>, with "zzz" before a name starting with "_" ' +
            '(OCI names must start with a letter or digit); tags are <version>-<build>, with "+" written "__p__" (and "!" "__e__") ' +
            'because OCI tags allow neither.\n');
        for (const e of uploaded.errors)
            o.write(`refused: ${e.error}\n`);
        if (!uploaded.ok)
            throw new Error('upload failed; see above');
        // The owners list (as in conda-forge's feedstock-outputs): the sample feedstock owns the sample names only.
        const owners = node_path_1.default.join(work, 'feedstock-outputs');
        for (const [name, feedstocks] of [...SAMPLES.map((s) => [s.name, [FEEDSTOCK]]), [INTRUDER.name, ['someone-else']]]) {
            const file = node_path_1.default.join(owners, pipeline.ownersFilePath(name));
            await (0, promises_1.mkdir)(node_path_1.default.dirname(file), { recursive: true });
            await (0, promises_1.writeFile)(file, JSON.stringify({ feedstocks }));
        }
        const declared = new Map(uploaded.artifacts.map((a) => [`${a.subdir}/${a.filename}`, a.sha256]));
        const refs = artifacts.map((a) => ({ ...a, sha256: declared.get(`${a.subdir}/${a.filename}`) }));
        heading(o, 3, `Validate (uploader: feedstock "${FEEDSTOCK}")`);
        const validated = await pipeline.validate({ staging, production, artifacts: refs, owners, uploader: FEEDSTOCK, progress });
        o.write((0, promotion_ts_1.verdictTable)(validated.artifacts));
        heading(o, 4, 'Promote staging -> production');
        const promoted = await pipeline.promote({ staging, production, artifacts: refs, owners, uploader: FEEDSTOCK, progress });
        o.write((0, promotion_ts_1.promotionTable)(promoted.artifacts));
        const rejected = promoted.artifacts.filter((a) => a.status === 'rejected');
        o.write(`\n${rejected.length} artifact(s) refused, as expected: ${rejected.map((a) => a.reason).join('; ') || 'none'}\n`);
        const unexpected = promoted.artifacts.filter((a) => a.status !== 'rejected' && a.status !== 'promoted' && a.status !== 'already-promoted');
        if (unexpected.length)
            throw new Error(`promotion failed for ${unexpected.map((a) => a.filename).join(', ')}`);
        heading(o, 5, `Mark ${BROKEN} broken (its .conda twin stays)`);
        const labeled = await pipeline.label({ channel: production, artifacts: [pipeline.parseArtifactRef(BROKEN)], add: ['broken'], actor: 'demo', reason: 'an example correction', progress });
        o.write((0, label_ts_1.labelTable)(labeled.artifacts));
        if (!labeled.ok)
            throw new Error('label failed');
        heading(o, 6, 'Reindex production into repodata (and a static channel tree)');
        const out = node_path_1.default.join(work, 'index');
        const indexed = await pipeline.reindex({ channel: production, out, cacheDir: node_path_1.default.join(work, 'cache'), progress });
        o.write((0, reindex_ts_1.indexTable)(indexed));
        o.write('\nThe broken .tar.bz2 is still counted (PACKAGES) but the main index leaves it out (REMOVED): only label/broken lists it (LABELS; * = pushed now). Its file stays in the registry.\n');
        if (!indexed.ok)
            throw new Error('reindex failed');
        heading(o, 7, 'Serve the static index on loopback and solve "sampletool" with rattler');
        const server = await serve(out);
        try {
            const rattler = (0, node_module_1.createRequire)(import.meta.url)('@conda-org/rattler');
            o.write(`channel: ${server.url}\n\n`);
            const solution = await rattler.simpleSolve(['sampletool'], [server.url], ['linux-64', 'noarch'], []);
            o.write((0, output_ts_1.table)(['PACKAGE', 'VERSION', 'BUILD', 'SUBDIR', 'FILE'], solution
                .map((p) => [p.packageName, p.version, p.build, p.subdir ?? '-', p.filename])
                .sort((a, b) => (a[0] ?? '').localeCompare(b[0] ?? ''))));
            const names = new Set(solution.map((p) => p.packageName));
            const missing = SAMPLES.map((s) => s.name).filter((n) => !names.has(n));
            if (missing.length)
                throw new Error(`the solution lacks ${missing.join(', ')}`);
            if (names.has(INTRUDER.name))
                throw new Error('the refused package reached production');
            if (solution.some((p) => p.filename === node_path_1.default.posix.basename(BROKEN)))
                throw new Error('the broken build was solved for');
        }
        finally {
            await server.close();
        }
        const published = promoted.artifacts.filter((a) => a.status === 'promoted' || a.status === 'already-promoted');
        const publishedNames = new Set(published.map((a) => a.filename.replace(/-[^-]+-[^-]+\.(conda|tar\.bz2)$/, '')));
        o.write(`\nDone: ${published.length} files (${publishedNames.size} packages) published, ${rejected.length} refused, ${labeled.artifacts.length} marked broken; environment solved from the published index.\n`);
    }
    catch (error) {
        o.log(`demo failed: ${error.message}\n`);
        exit = 1;
    }
    finally {
        printer?.stop();
        if (!o.keep)
            await (0, promises_1.rm)(work, { recursive: true, force: true });
    }
    return exit;
}


/***/ })

};
