import Foundation
import Testing
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// Training end to end on real Fashion-MNIST: files, exact resume,
/// sampling, bad input, and a short run that must behave like a GAN.
@Suite(.serialized, .enabled(if: FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory + "/train-images-idx3-ubyte.gz"),
                             "needs dataset-fashion-mnist (Tools/scripts/install-deps.sh installs it)"))
struct TrainingTests {
    func options(_ model: ModelKind, out: URL, epochs: Int = 1, images: Int = 192) -> TrainingOptions {
        var o = TrainingOptions()
        o.model = model
        o.epochs = epochs
        o.out = out.path
        o.limitImages = images
        o.device = "cpu"
        return o
    }

    @Test("train --dry-run writes every file, for every GAN", arguments: ModelKind.allCases.filter { !$0.isTranslation })
    func dryRun(model: ModelKind) throws {
        let out = try temporaryDirectory("dry-\(model)")
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try Executables.run("atelier", ["train", "--model", model.rawValue, "--dry-run", "--limit-images", "256",
                                                     "--device", "cpu", "--out", out.path])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let files = RunFiles(out.path)
        for url in [files.options, files.log, files.losses, files.lossCurve, files.checkpoint, files.sampleSheet(epoch: 1)] {
            #expect(FileManager.default.fileExists(atPath: url.path), "\(url.lastPathComponent) was not written")
        }
        let csv = try String(contentsOf: files.losses, encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 3 && csv[0] == "step,epoch,loss_d,loss_g,d_x,d_g_z", "losses.csv: \(csv)")
        let sheet = try PNG.read(files.sampleSheet(epoch: 1).path)
        let rows = model == .cdcgan ? 10 : 8
        // cdcgan's rows are named on the left.
        let grid = (8 * 30 + 2) * 2
        #expect((model == .cdcgan ? sheet.width > grid + 40 : sheet.width == grid) && sheet.height == (rows * 30 + 2) * 2,
                "sheet is \(sheet.width)x\(sheet.height)")
        let (state, tensors) = try Checkpoint.read(files.checkpoint.path)
        #expect(state.model.kind == model && state.step == 2)
        #expect(tensors.keys.contains("generator.layers.0.weight"))
        #expect(result.stdout.contains("Loss_D") && result.stdout.contains("D(G(z))"), "progress: \(result.stdout)")
    }

    /// Checks a profile table: the op kinds every gan step runs, with rates,
    /// and the step's GFLOP/s against a measured (finite, positive) peak.
    static func expectProfile(_ text: String, timing: String, sourceLocation: SourceLocation = #_sourceLocation) {
        // Fused ops show under their combined names.
        for op in ["matmul", "matmul + bias + relu", "conv2d + bias + relu", "conv2d grad weights", "matmul + relu grad",
                   "adam", "loss bceWithLogits + grad"] {
            #expect(text.contains("\n" + op + " "), "no \(op) row in:\n\(text)", sourceLocation: sourceLocation)
        }
        #expect(text.contains("GFLOP/s") && text.contains("GB/s") && text.contains(timing), "\(text)",
                sourceLocation: sourceLocation)
        let peak = text.split(separator: "\n").first { $0.contains("of the measured FMA peak") }
        let figure = peak.flatMap { $0.split(separator: "(").last?.split(separator: " ").first }.flatMap { Double($0) }
        #expect((figure ?? 0) > 0 && (figure ?? .infinity).isFinite, "peak line: \(peak ?? "missing")",
                sourceLocation: sourceLocation)
    }

    /// Rates count the direct algorithm's work; the share of the FMA peak
    /// counts what the backend performed (fewer for Winograd convolutions).
    @Test("Profiles report effective rates and the peak share of the work performed")
    func profilePerformedWork() throws {
        let profiler = OpProfiler()
        profiler.steps = 1
        profiler.add("conv2d", nanoseconds: 1_000_000, cost: OpCost(flops: 100e6, performedFlops: 73e6))
        profiler.add("matmul", nanoseconds: 1_000_000, cost: OpCost(flops: 50e6))
        let peak = DevicePeak(gflops: 123, gigabytesPerSecond: 10, units: 1)
        let text = profiler.report(stepMilliseconds: 2, peak: peak, timing: "wall time")
        #expect(text.contains("conv2d") && text.contains("100.0 GFLOP/s"), "\(text)")
        // 150 MFLOP effective in 2 ms: 75 GFLOP/s; 123 MFLOP performed: 61.5 GFLOP/s, 50 % of 123.
        #expect(text.contains("0.15 GFLOP per step: 75.0 GFLOP/s achieved (effective: 0.12 GFLOP performed, Winograd convolutions)")
                && text.contains("50% of the measured FMA peak (123.0 GFLOP/s) in performed multiply-adds"), "\(text)")
        // With the direct algorithms throughout, no such note.
        let direct = OpProfiler()
        direct.steps = 1
        direct.add("matmul", nanoseconds: 1_000_000, cost: OpCost(flops: 123e6))
        let plain = direct.report(stepMilliseconds: 1, peak: peak, timing: "wall time")
        #expect(plain.contains("123.0 GFLOP/s achieved, 100% of the measured FMA peak (123.0 GFLOP/s)") && !plain.contains("performed"),
                "\(plain)")
        // The CPU path performs fewer for the layers it runs by Winograd, the direct count elsewhere.
        let cpu = CPUBackend(tuning: CPUTuning(winogradConvolutions: true))
        let layer = ConvGeometry(batch: 4, inChannels: 64, height: 14, width: 14, outChannels: 128, kernel: 4, stride: 2, padding: 1)
        let gan = ConvGeometry(batch: 4, inChannels: 32, height: 14, width: 14, outChannels: 64, kernel: 3, stride: 2, padding: 1)
        for pass in ConvPass.allCases {
            let share = cpu.performedFlops(layer, pass: pass) / layer.flops
            #expect(share > 0.7 && share < 0.76, "\(pass): \(share) of the direct work")
            #expect(cpu.performedFlops(gan, pass: pass) == gan.flops)
        }
    }

    @Test("train --profile reports each op's time, launches and rate, and the step against the peak",
          arguments: ["cpu", "opencl"])
    func profile(device: String) throws {
        if device == "opencl" && !OpenCLTestSupport.shouldRun { return }  // no OpenCL and not required
        let out = try temporaryDirectory("profile-\(device)")
        defer { try? FileManager.default.removeItem(at: out) }
        // 16 steps: 2 warm-up, 3 timed, 10 profiled, 1 after.
        let result = try Executables.run("atelier", ["train", "--model", "gan", "--limit-images", "128", "--batch-size", "8",
                                                     "--device", device, "--profile", "--out", out.path])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let timing = device == "cpu" ? "wall time" : "OpenCL event profiling"
        Self.expectProfile(result.stdout, timing: timing)
        #expect(result.stdout.contains("profile of 10 steps") && result.stdout.contains("unprofiled"), "\(result.stdout)")
        #expect(result.stdout.contains("host time per plain step (medians): preparing the batch")
                && result.stdout.contains("enqueueing the step") && result.stdout.contains("waiting for it"), "\(result.stdout)")
        #expect((device == "cpu") == result.stdout.contains("the CPU path runs each op as it is enqueued"), "\(result.stdout)")
        let log = try String(contentsOf: RunFiles(out.path).log, encoding: .utf8)
        #expect(log.contains("profile of 10 steps"), "the log lacks the profile")
    }

    @Test("train --profile on a run too short to profile says so")
    func profileTooShort() throws {
        let out = try temporaryDirectory("profile-short")
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try Executables.run("atelier", ["train", "--model", "gan", "--dry-run", "--limit-images", "128",
                                                     "--device", "cpu", "--profile", "--out", out.path])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("--profile: the run ended after 2 steps") && result.stdout.contains("nothing was profiled"),
                "\(result.stdout)")
    }

    @Test("atelier-bench --model --breakdown prints the same profile")
    func benchBreakdown() throws {
        let result = try Executables.run("atelier-bench", ["--device", "cpu", "--model", "gan", "--batches", "8",
                                                           "--repeats", "2", "--breakdown"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        Self.expectProfile(result.stdout.replacingOccurrences(of: "\n    ", with: "\n"), timing: "wall time")
    }

    @Test("atelier-bench --breakdown --by-node gives each node of the step's graph a line of its own")
    func benchBreakdownByNode() throws {
        let result = try Executables.run("atelier-bench", ["--device", "cpu", "--model", "gan", "--batches", "8",
                                                           "--repeats", "2", "--breakdown", "--by-node"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        // gan's step runs D's forward pass three times: six lines of its two convolutions, each node once, with one launch.
        let lines = result.stdout.split(separator: "\n").filter { $0.contains("conv2d + bias + relu #") }
        let nodes = Set(lines.compactMap { $0.split(separator: "#").last?.split(separator: " ").first })
        #expect(lines.count == 6 && nodes.count == 6, "\(result.stdout)")
        #expect(lines.allSatisfy { $0.split(separator: " ").contains("1") }, "\(result.stdout)")
        let misuse = try Executables.run("atelier-bench", ["--device", "cpu", "--model", "gan", "--by-node"])
        #expect(misuse.status != 0 && misuse.stderr.contains("--by-node only applies with --model and --breakdown"),
                "stderr: \(misuse.stderr)")
    }

    func losses(_ files: RunFiles) throws -> [String] {
        try String(contentsOf: files.losses, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    @Test("--continue reproduces the uninterrupted run, from an epoch end and from mid-epoch", arguments: [ModelKind.dcgan, .cdcgan])
    func exactResume(model: ModelKind) throws {
        let whole = try temporaryDirectory("whole"), split = try temporaryDirectory("split")
        defer { for d in [whole, split] { try? FileManager.default.removeItem(at: d) } }
        let cpu = CPUBackend()
        _ = try TrainingRun(options: options(model, out: whole, epochs: 3), resume: false, backend: cpu) { _ in }
            .run(onStep: { _ in }, shouldStop: { false })

        // Stopped after step 4 (mid-epoch 2), then resumed twice.
        var steps = 0
        let first = try TrainingRun(options: options(model, out: split, epochs: 3), resume: false, backend: cpu) { _ in }
        let outcome = try first.run(onStep: { _ in steps += 1 }, shouldStop: { steps >= 4 })
        #expect(outcome == .interrupted(epoch: 2, step: 1))
        var o = options(model, out: split, epochs: 2)
        _ = try TrainingRun(options: o, resume: true, backend: cpu) { _ in }.run(onStep: { _ in }, shouldStop: { false })
        o.epochs = 3
        _ = try TrainingRun(options: o, resume: true, backend: cpu) { _ in }.run(onStep: { _ in }, shouldStop: { false })

        let a = try losses(RunFiles(whole.path)), b = try losses(RunFiles(split.path))
        #expect(a.count == 10)
        #expect(a == b, "resumed run differs:\n\(a.joined(separator: "\n"))\nvs\n\(b.joined(separator: "\n"))")
        let (sa, ta) = try Checkpoint.read(RunFiles(whole.path).checkpoint.path)
        let (sb, tb) = try Checkpoint.read(RunFiles(split.path).checkpoint.path)
        #expect(sa == sb)
        #expect(ta["generator.layers.0.weight"]?.values == tb["generator.layers.0.weight"]?.values)
    }

    @Test("atelier sample writes a sheet, single images and a chosen class")
    func sample() throws {
        let dir = try temporaryDirectory("sample")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = dir.appendingPathComponent("run")
        let train = try Executables.run("atelier", ["train", "--model", "cdcgan", "--dry-run", "--limit-images", "128",
                                                    "--device", "cpu", "--out", run.path])
        #expect(train.status == 0, "stderr: \(train.stderr)")
        let ckpt = RunFiles(run.path).checkpoint.path
        let sheet = dir.appendingPathComponent("dresses.png").path
        let dresses = try Executables.run("atelier", ["sample", "--checkpoint", ckpt, "--count", "16", "--class", "Dress", "--out", sheet])
        #expect(dresses.status == 0, "stderr: \(dresses.stderr)")
        #expect(try PNG.read(sheet).width == (8 * 30 + 2) * 2)
        let folder = dir.appendingPathComponent("each").path
        let each = try Executables.run("atelier", ["sample", "--checkpoint", ckpt, "--count", "3", "--class", "7", "--out", folder])
        #expect(each.status == 0, "stderr: \(each.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(files == ["0000.png", "0001.png", "0002.png"])
        #expect(try PNG.read(folder + "/0000.png").width == 28)
        let unknown = try Executables.run("atelier", ["sample", "--checkpoint", ckpt, "--class", "Hat", "--out", sheet])
        #expect(unknown.status != 0 && unknown.stderr.contains("unknown class 'Hat'") && unknown.stderr.contains("3 Dress"),
                "stderr: \(unknown.stderr)")
    }

    @Test("Bad input gives errors that name the problem and the fix")
    func badInput() throws {
        let dir = try temporaryDirectory("bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        func train(_ args: [String]) throws -> ProcessResult {
            try Executables.run("atelier", ["train", "--device", "cpu", "--dry-run"] + args)
        }
        let beta = try train(["--beta1", "1.5", "--out", dir.appendingPathComponent("r").path])
        #expect(beta.status != 0 && beta.stderr.contains("--beta1 must lie in [0, 1)"), "stderr: \(beta.stderr)")
        let missing = try train(["--dataroot", "/nonexistent/data", "--out", dir.appendingPathComponent("r0").path])
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/data is not a directory"), "stderr: \(missing.stderr)")

        // A truncated IDX file.
        let idx = dir.appendingPathComponent("idx")
        try FileManager.default.createDirectory(at: idx, withIntermediateDirectories: true)
        let images = try Data(contentsOf: URL(fileURLWithPath: FashionMNIST.defaultDirectory + "/train-images-idx3-ubyte.gz"))
        try images.prefix(5000).write(to: idx.appendingPathComponent("train-images-idx3-ubyte.gz"))
        try Data(contentsOf: URL(fileURLWithPath: FashionMNIST.defaultDirectory + "/train-labels-idx1-ubyte.gz"))
            .write(to: idx.appendingPathComponent("train-labels-idx1-ubyte.gz"))
        let truncated = try train(["--dataroot", idx.path, "--out", dir.appendingPathComponent("r1").path])
        #expect(truncated.status != 0 && truncated.stderr.contains("train-images-idx3-ubyte.gz")
                && (truncated.stderr.contains("corrupt") || truncated.stderr.contains("truncated")), "stderr: \(truncated.stderr)")

        // A folder with a damaged PNG.
        let pngs = dir.appendingPathComponent("pngs/shirts")
        try FileManager.default.createDirectory(at: pngs, withIntermediateDirectories: true)
        try PNG.write(PixelImage(width: 30, height: 40, channels: 3, pixels: [UInt8](repeating: 90, count: 3600)),
                      to: pngs.appendingPathComponent("good.png").path)
        try Data("not a png".utf8).write(to: pngs.appendingPathComponent("bad.png"))
        let damaged = try train(["--dataroot", dir.appendingPathComponent("pngs").path, "--batch-size", "1",
                                 "--out", dir.appendingPathComponent("r2").path])
        #expect(damaged.status != 0 && damaged.stderr.contains("bad.png"), "stderr: \(damaged.stderr)")

        // A run folder that already holds a run, and --continue with another model.
        let run = dir.appendingPathComponent("r3").path
        #expect(try train(["--model", "gan", "--limit-images", "128", "--out", run]).status == 0)
        let again = try train(["--model", "gan", "--limit-images", "128", "--out", run])
        #expect(again.status != 0 && again.stderr.contains("already holds a run") && again.stderr.contains("--continue"),
                "stderr: \(again.stderr)")
        let other = try Executables.run("atelier", ["train", "--device", "cpu", "--model", "dcgan", "--continue", "--out", run])
        #expect(other.status != 0 && other.stderr.contains("holds a gan model"), "stderr: \(other.stderr)")
        let classOfGan = try Executables.run("atelier", ["sample", "--checkpoint", run + "/checkpoint.safetensors", "--class", "Dress"])
        #expect(classOfGan.status != 0 && classOfGan.stderr.contains("needs a conditional model"), "stderr: \(classOfGan.stderr)")
        let notCheckpoint = dir.appendingPathComponent("x.safetensors")
        try Data("garbage".utf8).write(to: notCheckpoint)
        let garbage = try Executables.run("atelier", ["sample", "--checkpoint", notCheckpoint.path])
        #expect(garbage.status != 0 && garbage.stderr.contains("not a valid safetensors file"), "stderr: \(garbage.stderr)")
    }

    @Test("A short real run trains like a GAN: D(x) above D(G(z)), samples neither constant nor noise")
    func learns() throws {
        let out = try temporaryDirectory("learn")
        defer { try? FileManager.default.removeItem(at: out) }
        var o = options(.dcgan, out: out, epochs: 1, images: 300 * 32)
        o.batchSize = 32
        // PoCL when there is one: its kernels are optimised even in a debug
        // build, so this stays quick; the CPU path trains the same way (the
        // reference tests compare the two step by step).
        let backend: Backend = OpenCLTestSupport.available ? try OpenCLTestSupport.backend() : CPUBackend()
        let run = try TrainingRun(options: o, resume: false, backend: backend) { _ in }
        var stats: [StepStatistics] = []
        _ = try run.run(onStep: { stats.append($0.statistics) }, shouldStop: { false })
        #expect(stats.count == 300)
        let late = stats.suffix(100)
        let dReal = late.map { $0["D(x)"]! }.reduce(0, +) / Float(late.count)
        let dFake = late.map { $0["D(G(z))"]! }.reduce(0, +) / Float(late.count)
        #expect(dReal > dFake + 0.1, "D should tell real from fake: D(x) \(dReal), D(G(z)) \(dFake)")
        #expect(late.allSatisfy { $0["Loss_D"]!.isFinite && $0["Loss_G"]!.isFinite && $0["Loss_G"]! > 0.1 }, "G collapsed or diverged")

        // Samples: varied across images, smooth within each (noise is not).
        let (noise, _) = GANTask.fixedNoise(run.config, seed: 7)
        let images = try #require(run.sampler).generate(noise: noise)
        let per = 28 * 28
        var spread: Float = 0, correlation: Float = 0
        let mean = (0..<per).map { p in (0..<64).reduce(Float(0)) { $0 + images[$1 * per + p] } / 64 }
        for n in 0..<64 {
            let img = Array(images[n * per..<(n + 1) * per])
            spread += zip(img, mean).reduce(0) { $0 + abs($1.0 - $1.1) } / Float(per)
            let m = img.reduce(0, +) / Float(per)
            var num: Float = 0, den: Float = 0
            for y in 0..<28 { for x in 0..<27 { num += (img[y * 28 + x] - m) * (img[y * 28 + x + 1] - m) } }
            for v in img { den += (v - m) * (v - m) }
            correlation += den > 0 ? num / den * Float(per) / Float(28 * 27) : 0
        }
        spread /= 64
        correlation /= 64
        #expect(spread > 0.05, "samples are (nearly) all the same: mean distance to the mean image \(spread)")
        #expect(correlation > 0.5, "samples look like noise: neighbouring pixels correlate only \(correlation)")
    }

    @Test("--keep-last-batch trains on the smaller last batch with a plan of its own")
    func keepLastBatch() throws {
        let out = try temporaryDirectory("last")
        defer { try? FileManager.default.removeItem(at: out) }
        var o = options(.gan, out: out, epochs: 1, images: 100)
        o.keepLastBatch = true
        let run = try TrainingRun(options: o, resume: false, backend: CPUBackend()) { _ in }
        #expect(run.stepsPerEpoch == 2)
        var sizes = 0
        _ = try run.run(onStep: { _ in sizes += 1 }, shouldStop: { false })
        #expect(sizes == 2)
        o.keepLastBatch = false
        o.out = out.appendingPathComponent("dropped").path
        #expect(try TrainingRun(options: o, resume: false, backend: CPUBackend()) { _ in }.stepsPerEpoch == 1)
    }

    @Test("A folder of PNG images in class sub-folders trains a conditional model")
    func imageFolder() throws {
        let dir = try temporaryDirectory("folder")
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = RandomGenerator(seed: 3)
        for (k, name) in ["dresses", "shirts"].enumerated() {
            let folder = dir.appendingPathComponent("data/\(name)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for i in 0..<6 {
                // RGB, not square, not 28x28: cropped and resized on load.
                let pixels = (0..<(40 * 30 * 3)).map { _ in UInt8(k * 100 + Int(rng.next() % 100)) }
                try PNG.write(PixelImage(width: 40, height: 30, channels: 3, pixels: pixels),
                              to: folder.appendingPathComponent("\(i).png").path)
            }
        }
        let data = try ImageFolder.load(directory: dir.appendingPathComponent("data").path,
                                        preprocessing: ImagePreprocessing(size: 28)).dataset
        #expect(data.count == 12 && data.channels == 3 && data.height == 28 && data.classNames == ["dresses", "shirts"])
        #expect(data.labels == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
        let result = try Executables.run("atelier", ["train", "--model", "cdcgan", "--dry-run", "--device", "cpu", "--batch-size", "4",
                                                     "--dataroot", dir.appendingPathComponent("data").path,
                                                     "--out", dir.appendingPathComponent("run").path])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let (state, _) = try Checkpoint.read(dir.appendingPathComponent("run/checkpoint.safetensors").path)
        #expect(state.model.imageChannels == 3 && state.model.classNames == ["dresses", "shirts"])
    }

    @Test("A folder of JPEG photos trains an RGB dcgan at 32 px from the CLI; a damaged photo is named, or skipped on request")
    func jpegFolder() throws {
        let dir = try temporaryDirectory("jpeg-folder")
        defer { try? FileManager.default.removeItem(at: dir) }
        let photos = dir.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: photos, withIntermediateDirectories: true)
        var rng = RandomGenerator(seed: 8)
        for i in 0..<10 {
            let (w, h) = (50 + i, 70)
            let pixels = (0..<(w * h * 3)).map { _ in UInt8(rng.next() % 256) }
            try JPEG.write(PixelImage(width: w, height: h, channels: 3, pixels: pixels), to: photos.appendingPathComponent("\(i).jpg").path)
        }
        let damaged = photos.appendingPathComponent("zz-damaged.jpeg").path
        try Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 16]).write(to: URL(fileURLWithPath: damaged))
        let arguments = ["train", "--model", "dcgan", "--dry-run", "--device", "cpu", "--batch-size", "4", "--image-size", "32",
                         "--load-size", "36", "--random-crop", "--flip", "--gan-mode", "lsgan", "--lr-policy", "linear",
                         "--ngf", "8", "--ndf", "8", "--dataroot", photos.path, "--out", dir.appendingPathComponent("run").path]
        let refused = try Executables.run("atelier", arguments)
        #expect(refused.status != 0 && refused.stderr.contains(damaged) && refused.stderr.contains("--skip-bad-images"),
                "stderr: \(refused.stderr)")
        let result = try Executables.run("atelier", arguments + ["--skip-bad-images"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("dcgan 32x32x3") && result.stdout.contains("10 images"), "stdout: \(result.stdout)")
        let run = RunFiles(dir.appendingPathComponent("run").path)
        let (state, _) = try Checkpoint.read(run.checkpoint.path)
        #expect(state.model.imageSize == 32 && state.model.imageChannels == 3 && state.model.ganMode == .lsgan && state.model.ngf == 8)
        #expect(state.groups.allSatisfy { $0.spec.schedule == .linearDecay(decayEpochs: 2, totalEpochs: 5) })
        let log = try String(contentsOf: run.log, encoding: .utf8)
        #expect(log.contains("skipped: \(damaged)"), "log: \(log)")
        let header = try String(contentsOf: run.losses, encoding: .utf8).split(separator: "\n").first
        #expect(header == "step,epoch,loss_d,loss_g,d_x,d_g_z")
        let sheet = try ImageFile.read(run.sampleSheet(epoch: 1).path)
        #expect(sheet.channels == 3 && sheet.width == (8 * 34 + 2) * 2)
    }

    /// SIGTERM (kill, systemd, Slurm, CI) as Ctrl-C: it once killed the run at once and lost the epoch.
    @Test("Ctrl-C and SIGTERM stop after the current step, save a checkpoint, and --continue resumes", arguments: [SIGINT, SIGTERM])
    func interrupt(signal: Int32) throws {
        let out = try temporaryDirectory("signal-\(signal)")
        defer { try? FileManager.default.removeItem(at: out) }
        let process = Process()
        process.executableURL = Executables.directory.appendingPathComponent("atelier")
        process.arguments = ["train", "--model", "gan", "--device", "cpu", "--limit-images", "3200", "--out", out.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let losses = RunFiles(out.path).losses
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if let text = try? String(contentsOf: losses, encoding: .utf8), text.split(separator: "\n").count >= 3 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        if signal == SIGINT { process.interrupt() } else { process.terminate() }
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 128 + signal,
                "exit status \(process.terminationStatus), \(process.terminationReason == .exit ? "exited" : "killed by the signal")")
        let (state, _) = try Checkpoint.read(RunFiles(out.path).checkpoint.path)
        #expect(state.step >= 2 && state.epoch == 0 && state.stepInEpoch == state.step, "state \(state.step) \(state.epoch)")
        let log = try String(contentsOf: RunFiles(out.path).log, encoding: .utf8)
        #expect(log.contains("interrupted at epoch 1 step \(state.step)") && log.contains("--continue"), "log: \(log)")
        let rows = try String(contentsOf: losses, encoding: .utf8).split(separator: "\n").count - 1
        #expect(rows == state.step, "losses.csv has \(rows) steps, the checkpoint \(state.step)")
        let resumed = try Executables.run("atelier", ["train", "--model", "gan", "--device", "cpu", "--continue", "--epochs", "1",
                                                      "--limit-images", "3200", "--out", out.path])
        #expect(resumed.status == 0, "stderr: \(resumed.stderr)")
        #expect(resumed.stdout.contains("resuming gan") && resumed.stdout.contains("step \(state.step + 1)"), "stdout: \(resumed.stdout)")
    }
}
