import ArgumentParser
import Atelier
import Foundation

@main
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "atelier-bench",
        abstract: "Check Atelier's kernels against the CPU path, then time them.",
        // One line a paragraph: ArgumentParser wraps to the terminal, and hard line breaks
        // inside a paragraph came out as ragged half-lines.
        discussion: """
        Measures the device's FMA peak and copy bandwidth first, then for each case checks the result against the CPU path and times it after warm-up (OpenCL: event profiling, device time; CPU path: wall time). Rates are GFLOP/s (GEMM, convolution) or GB/s (elementwise, reductions), with the share of the measured peak.

        Set ATELIER_KERNEL_DIR to a copy of Kernels/ to time edited kernels without rebuilding.
        """
    )

    @Option(help: "auto, cpu, opencl or opencl:P:D (see `atelier devices`).")
    var device = "auto"

    @Option(name: .customLong("kernel"), help: "Only cases whose name contains this text (repeatable), e.g. 'gemm 1024' or 'dcgan'.")
    var filters: [String] = []

    @Option(help: "Only cases of this group: gemm, dense, conv, pointwise, reduce, batchnorm, adam, defined (InstanceNorm, padding, upsampling, dropout) (repeatable).")
    var group: [String] = []

    @Option(help: "Batch sizes of the model layer cases, comma separated.")
    var batches = "64,256"

    @Option(help: "Timed runs per case (the median is reported).")
    var repeats = 7

    @Option(help: "Untimed runs per case before timing.")
    var warmup = 2

    @Option(help: "Largest accepted difference to the CPU path, relative to the largest expected value.")
    var tolerance = 1e-3

    @Flag(help: "Time OpenCL cases by wall clock (enqueue to completion, launch overhead included) instead of event profiling.")
    var wallClock = false

    @Flag(help: "Show each OpenCL case's kernels and their device time; with --model, the step's profile per op kind.")
    var breakdown = false

    @Flag(help: "With --model --breakdown: one line per node of the step's graph (its op and its index there) instead of per op kind.")
    var byNode = false

    @Option(help: "Time whole training steps of this model (gan, dcgan, cdcgan, pix2pix) at each of --batches instead of kernels.")
    var model: ModelKind?

    @Option(name: .customLong("image-size"), help: "With --model: the image side the model is built for (28, 32, 64, 128, 256; default 28, pix2pix 64).")
    var imageSize: Int?

    @Option(help: "With --model: image channels, 1 (gray) or 3 (RGB; pix2pix: of input and output alike); default 1, pix2pix 3 as torch_i2i.py.")
    var channels: Int?

    @Option(name: .customLong("check-peer"), help: "With --model pix2pix or cyclegan: run the numerics check of ../shared/peers/torch_i2i.py on the folder its `export` wrote (canonical weights, inputs, expected figures) and report the differences, instead of timing.")
    var checkPeer: String?

    @Option(help: "OpenCL: compute every convolution with this algorithm instead of the tuned or default choice: 'columns' (im2col + GEMM), 'implicit:BLOCK:LOCAL' (Kernels/conv.cl for GPUs: BLOCK channels per work-item, work-groups of LOCAL) or 'direct:WIDTH:PIXELS' (for CPU devices: vectors of WIDTH channels, PIXELS pixels per work-item). CPU path: how layers with many input channels run, 'pixel-major' (columns + OpenBLAS), 'indirect' (no columns) or 'winograd' (indirect, 4x4 stride-2 layers by Winograd's F(2x2, 2x2) and 3x3 stride-1 layers by F(4x4, 3x3): the default on AVX-512 CPUs; the other two run 3x3 stride-1 layers without Winograd too).")
    var conv: String?

    @Flag(help: "List the cases and exit.")
    var list = false

    @Flag(help: "Time the CPU path's hand-off of a parallel region to its cores (one work item of 66 us per core, 200 regions with 5 us of serial work between them), on its worker pool and with GCD's concurrentPerform, and exit.")
    var handoff = false

    @Flag(help: "Sweep the tunables and print the best setting: on an OpenCL device GEMM blocking, vector widths, and each model layer's convolution algorithm per pass (im2col+GEMM, implicit GEMM or direct, at each of --batches); on the CPU path convolution chunk size and column layout (at the first of --batches).")
    var tune = false

    @Flag(help: "With --tune: store the best setting in the user's cache; later runs use it.")
    var save = false

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        guard repeats >= 1, warmup >= 0 else { throw ValidationError("--repeats must be at least 1 and --warmup at least 0") }
        guard !parsedBatches.isEmpty, parsedBatches.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--batches takes positive integers separated by commas, e.g. 64,256")
        }
        if save && !tune { throw ValidationError("--save only applies with --tune") }
        if byNode && (model == nil || !breakdown) { throw ValidationError("--by-node only applies with --model and --breakdown") }
        if let conv, ConvAlgorithm(parsing: conv) == nil, Self.cpuConvolutions[conv] == nil {
            throw ValidationError("--conv takes 'columns', 'implicit:BLOCK:LOCAL' (e.g. implicit:8:64) or 'direct:WIDTH:PIXELS' (e.g. direct:16:8) on OpenCL, 'pixel-major', 'indirect' or 'winograd' on the CPU path, got '\(conv)'")
        }
    }

    var parsedBatches: [Int] { batches.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func selectedCases() -> [BenchCase] {
        BenchCatalogue.all(batches: parsedBatches).filter { c in
            (filters.isEmpty || filters.contains { c.name.localizedCaseInsensitiveContains($0) })
                && (group.isEmpty || group.contains(c.group))
        }
    }

    func run() throws {
        if list {
            for c in selectedCases() { print("\(c.group.padding(toLength: 10, withPad: " ", startingAt: 0)) \(c.name)") }
            return
        }
        if handoff {
            let r = HandoffProbe.measure()
            for (name, f) in [("worker pool (cpu_pool.c)", r.pool), ("GCD concurrentPerform", r.gcd)] {
                print(String(format: "%@: %.1f us per region of %d items of %.0f us (median of %d), the last core started after %.1f us",
                             name, f.region, r.cores, r.itemMicroseconds, r.regions, f.lastJoin))
            }
            return
        }
        let choice = try DeviceChoice(parsing: device)
        let backend = try forcingConvolution(try choice.makeBackend(profiling: true))
        if let cl = backend as? OpenCLBackend {
            cl.onCompile { file in Log.status("compiling \(file) for \(cl.info.name)...") }
        }
        if tune {
            try runTuning(backend)
            return
        }
        if let model, let checkPeer {
            guard model.isTranslation else { throw ValidationError("--check-peer applies to --model pix2pix and cyclegan") }
            print(try PeerCheck.run(model, folder: checkPeer, backend: backend))
            return
        }
        if let model {
            try runSteps(model, choice, profiled: backend)
            return
        }
        let cases = selectedCases()
        guard !cases.isEmpty else {
            throw ValidationError("no case matches --kernel \(filters) --group \(group); see --list")
        }
        Log.status("measuring the peak of \(backend.name)...")
        let peak = try PeakProbe.measure(backend)
        let reference: CPUBackend? = backend is CPUBackend ? nil : CPUBackend()
        var results: [CaseResult] = []
        var failures: [String] = []
        for (i, c) in cases.enumerated() {
            Log.status("[\(i + 1)/\(cases.count)] \(c.name)")
            do {
                results.append(try Measurement.run(c, on: backend, reference: reference, peak: peak,
                                                   warmup: warmup, repeats: repeats, tolerance: tolerance, wallClock: wallClock))
            } catch let failure as CheckFailure {
                failures.append(failure.description)
            }
        }
        Log.clear()
        let report = Report(device: backend.name, timing: backend is OpenCLBackend && !wallClock ? "OpenCL event profiling (device time)" : "wall clock", tuning: (backend as? OpenCLBackend)?.tuning.description ?? (backend as? CPUBackend)?.tuning.description,
                            date: ISO8601DateFormatter().string(from: Date()), peak: peak, results: results, failures: failures)
        if json {
            print(report.json)
        } else {
            print(report.table(breakdown: breakdown))
        }
        if !failures.isEmpty { throw ExitCode(1) }
    }

    /// Steps are timed on a backend without event profiling (its events
    /// cost launch time); the --breakdown profile runs on `profiled`.
    private func runSteps(_ kind: ModelKind, _ choice: DeviceChoice, profiled: Backend) throws {
        let backend = profiled is OpenCLBackend ? try forcingConvolution(try choice.makeBackend(profiling: false)) : profiled
        var peak: DevicePeak?
        if breakdown {
            Log.status("measuring the peak of \(backend.name)...")
            peak = try PeakProbe.measure(profiled)  // OpenCL times it by event profiling
        }
        var results: [StepBenchmark.Result] = []
        for batch in parsedBatches {
            Log.status("timing \(kind) steps at batch \(batch) on \(backend.name)...")
            results.append(try StepBenchmark.run(kind, imageSize: imageSize ?? (kind.isTranslation ? 64 : 28),
                                                 channels: channels ?? (kind.isTranslation ? 3 : 1), batch: batch, backend: backend, profiled: breakdown ? profiled : nil,
                                                 byNode: byNode, warmup: max(warmup, 2), repeats: repeats, peak: peak))
        }
        Log.clear()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
            return
        }
        print("device: \(backend.name)")
        for r in results {
            print(String(format: "%@ %dx%dx%d batch %d: %.1f ms per step (median of %d), %.0f samples/s", r.model, r.imageSize, r.imageSize, r.channels, r.batch,
                         r.medianMilliseconds, repeats, r.samplesPerSecond))
            if let report = r.report {
                print(report.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            }
        }
    }
    /// The backend, or with --conv an OpenCL backend on the same device
    /// whose tuning computes every convolution that way.
    /// --conv values of the CPU path: whether many-channel layers run
    /// indirect, and whether 4x4 stride-2 and 3x3 stride-1 layers run by Winograd.
    static let cpuConvolutions = ["pixel-major": (indirect: false, winograd: false), "indirect": (indirect: true, winograd: false),
                                  "winograd": (indirect: true, winograd: true)]

    private func forcingConvolution(_ backend: Backend) throws -> Backend {
        guard let conv else { return backend }
        if let cpu = backend as? CPUBackend {
            guard let choice = Self.cpuConvolutions[conv] else {
                throw ValidationError("--conv \(conv) is an OpenCL algorithm; the CPU path takes 'pixel-major', 'indirect' or 'winograd'")
            }
            var tuning = cpu.tuning
            tuning.indirectConvolutions = choice.indirect
            tuning.winogradConvolutions = choice.winograd
            tuning.winograd3x3Convolutions = choice.winograd
            return CPUBackend(tuning: tuning)
        }
        guard let algorithm = ConvAlgorithm(parsing: conv) else {
            throw ValidationError("--conv \(conv) is a CPU path setting; OpenCL takes 'columns', 'implicit:BLOCK:LOCAL' or 'direct:WIDTH:PIXELS'")
        }
        guard let cl = backend as? OpenCLBackend else {
            throw ValidationError("--conv chooses among the OpenCL path's algorithms; \(backend.name) is neither path")
        }
        var tuning = cl.tuning
        tuning.convolution = algorithm
        tuning.convolutions = nil
        return try OpenCLBackend(deviceID: cl.info.id, profiling: cl.profilingEnabled, tuning: tuning)
    }

    private func runTuning(_ backend: Backend) throws {
        guard let cl = backend as? OpenCLBackend else { return try runCPUTuning() }
        let ranked = try Tuner.sweep(deviceID: cl.info.id, info: cl.info, base: cl.tuning, batch: parsedBatches[0], repeats: repeats) { Log.line($0) }
        guard var best = ranked.first else { throw ValidationError("no tuning candidate ran on \(cl.name)") }
        best.0 = try Tuner.confirm(best.0, over: cl.tuning, cases: Tuner.workloads(batch: parsedBatches[0]) + Tuner.pointwiseWorkloads,
                                   deviceID: cl.info.id, repeats: repeats) { Log.line($0) }
        best.1 = ranked.first { $0.0 == best.0 }?.1 ?? best.1  // the kept setting's time in the sweep
        best.0.convolutions = try Tuner.convolutionChoices(deviceID: cl.info.id, info: cl.info, base: best.0,
                                                           batches: parsedBatches, repeats: repeats) { Log.line($0) }
        let defaults = DeviceTuning.defaults(for: cl.info)
        let defaultTime = ranked.first { $0.0 == defaults }?.1
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let trials = ranked.map { Tuner.Trial(tuning: $0.0.description, milliseconds: $0.1) }
            print(String(decoding: try encoder.encode(trials), as: UTF8.self))
        }
        Log.line(String(format: "best on %@: %@ (%.2f ms over the model layers at batch \(parsedBatches[0])%@)", cl.name, best.0.description, best.1,
                        defaultTime.map { String(format: "; defaults %.2f ms", $0) } ?? ""))
        if save {
            let url = try TuningStore.save(best.0, for: cl.info)
            Log.line("saved to \(url.path); every run on this device now uses it")
        }
    }
}

extension BenchCommand {
    /// The CPU path's sweep: convolution chunk size and algorithm threshold,
    /// on the model layers at the first of --batches.
    func runCPUTuning() throws {
        let batch = parsedBatches[0]
        let ranked = try CPUTuner.sweep(batch: batch, repeats: repeats) { Log.line($0) }
        guard var best = ranked.first else { throw ValidationError("no tuning candidate ran on the CPU path") }
        best.0 = try CPUTuner.confirm(best.0, over: CPUTuningStore.load() ?? .defaults, batch: batch, repeats: repeats) { Log.line($0) }
        best.1 = ranked.first { $0.0 == best.0 }?.1 ?? best.1  // the kept setting's time in the sweep
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let trials = ranked.map { Tuner.Trial(tuning: $0.0.description, milliseconds: $0.1) }
            print(String(decoding: try encoder.encode(trials), as: UTF8.self))
        }
        let defaultTime = ranked.first { $0.0 == .defaults }?.1
        Log.line(String(format: "best on the CPU path: %@ (%.2f ms over the model convolutions at batch %d%@)",
                        best.0.description, best.1, batch, defaultTime.map { String(format: "; defaults %.2f ms", $0) } ?? ""))
        if save {
            let url = try CPUTuningStore.save(best.0)
            Log.line("saved to \(url.path); every later run of the CPU path on this machine uses it")
        }
    }
}

/// Progress on stderr (rewritten in place on a terminal), results on stdout.
enum Log {
    static let isTerminal = isatty(STDERR_FILENO) != 0

    static func status(_ text: String) {
        if isTerminal {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
        } else {
            FileHandle.standardError.write(Data("\(text)\n".utf8))
        }
    }

    static func clear() {
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    static func line(_ text: String) {
        clear()
        FileHandle.standardError.write(Data("\(text)\n".utf8))
    }
}
