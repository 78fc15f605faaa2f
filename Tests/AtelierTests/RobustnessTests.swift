import Foundation
import Testing
import CAtelier
@testable import AtelierDevices
@testable import AtelierModels
@testable import AtelierTraining

/// Inputs that once hung or crashed a run: each must end promptly with a
/// result or a clear error.
struct RobustnessTests {
    @Test("Grid steps are 1, 2 or 5 times a power of ten, 4 to 10 lines over the span")
    func gridSteps() {
        for span in [0.3, 2, 2.1, 7, 13, 1e5, 1.7e7, 6e38] {
            let step = Pictures.gridStep(span)
            let lines = span / step
            #expect(lines >= 3 && lines <= 12, "span \(span): step \(step), \(lines) lines")
            let leading = step / pow(10, log10(step).rounded(.down))
            #expect([1, 2, 5, 10].contains { abs(leading - Double($0)) < 1e-9 }, "span \(span): step \(step)")
        }
        #expect(Pictures.gridStep(0) == 1 && Pictures.gridStep(.infinity) == 1)
    }

    /// A full disk while the steps run (losses.csv on /dev/full, which
    /// fails every write with ENOSPC) once crashed the run and left a torn
    /// row: now the run stops with the reason and what is safe.
    @Test("A full disk during the steps stops the run with a clear error, not a crash",
          .enabled(if: FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory + "/train-images-idx3-ubyte.gz")
                   && FileManager.default.fileExists(atPath: "/dev/full"), "needs dataset-fashion-mnist and /dev/full"))
    func fullDisk() throws {
        let out = try temporaryDirectory("full-disk")
        defer { try? FileManager.default.removeItem(at: out) }
        var options = TrainingOptions()
        options.model = .gan
        options.epochs = 1
        options.limitImages = 128
        options.out = out.path
        options.device = "cpu"
        let run = try TrainingRun(options: options, resume: false, backend: CPUBackend()) { _ in }
        let losses = RunFiles(out.path).losses
        try FileManager.default.removeItem(at: losses)
        try FileManager.default.createSymbolicLink(atPath: losses.path, withDestinationPath: "/dev/full")
        do {
            _ = try run.run(onStep: { _ in }, shouldStop: { false })
            Issue.record("the run went on with no room for losses.csv")
        } catch {
            let text = "\(error)"
            #expect(text.contains("losses.csv") && text.contains("No space left on device") && text.contains("free some space"), "\(text)")
        }
    }

    /// A header whose dimensions multiply past Int once trapped on the product.
    @Test("An IDX header of 0xFFFFFFFF dimensions is refused by name")
    func idxOverflow() throws {
        let dir = try temporaryDirectory("idx-overflow")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("images-idx3-ubyte").path
        try Data([0, 0, 8, 3] + [UInt8](repeating: 0xFF, count: 12) + [1, 2, 3]).write(to: URL(fileURLWithPath: path))
        #expect { try IDX.read(path) } throws: { "\($0)".contains("claims dimensions [4294967295, 4294967295, 4294967295]") }
    }

    @Test("A safetensors shape of [2^32, 2^32] is refused by name")
    func safetensorsOverflow() throws {
        let header = #"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#
        var data = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        #expect { try Safetensors.decode(data, source: "hostile.safetensors") } throws: {
            "\($0)".contains("hostile.safetensors") && "\($0)".contains("[4294967296, 4294967296]")
        }
    }

    static let fashionMNIST = FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory + "/train-images-idx3-ubyte.gz")

    @Test("--batch-size Int.max with --keep-last-batch trains one batch of the data an epoch; --epochs Int.max is refused",
          .enabled(if: fashionMNIST, "needs dataset-fashion-mnist"))
    func hugeCounts() throws {
        let out = try temporaryDirectory("huge-counts")
        defer { try? FileManager.default.removeItem(at: out) }
        let big = try Executables.run("atelier", ["train", "--model", "gan", "--batch-size", "9223372036854775807", "--keep-last-batch",
                                                  "--limit-images", "64", "--epochs", "1", "--device", "cpu", "--out", out.path])
        #expect(big.status == 0, "stderr: \(big.stderr)")
        let log = try String(contentsOf: RunFiles(out.path).log, encoding: .utf8)
        #expect(log.contains("each epoch is one batch of 64") && log.contains("batch 64"), "\(log)")
        for (option, value) in [("--epochs", "9223372036854775807"), ("--epochs", "0")] {
            let refused = try Executables.run("atelier", ["train", "--model", "gan", option, value, "--limit-images", "64",
                                                          "--device", "cpu", "--out", out.path + "-2"])
            #expect(refused.status != 0 && refused.stderr.contains("--epochs must lie in 1...500000"), "\(option) \(value): \(refused.stderr)")
        }
        let decay = try Executables.run("atelier", ["train", "--model", "cyclegan", "--epochs-decay", "9223372036854775807",
                                                    "--device", "cpu", "--out", out.path + "-3"])
        #expect(decay.status != 0 && decay.stderr.contains("--epochs-decay must lie in 0...500000"), "\(decay.stderr)")
    }

    /// A checkpoint whose training state no run writes: a batch size of 0
    /// once divided by zero on --continue; a dcgan's marked cdcgan, in
    /// `sample` (no classes to take a remainder by).
    @Test("Checkpoints with impossible training states are refused by what is wrong in them",
          .enabled(if: fashionMNIST, "needs dataset-fashion-mnist"))
    func impossibleStates() throws {
        let out = try temporaryDirectory("impossible-states")
        defer { try? FileManager.default.removeItem(at: out) }
        let dry = try Executables.run("atelier", ["train", "--model", "dcgan", "--dry-run", "--limit-images", "64", "--device", "cpu",
                                                  "--out", out.path])
        #expect(dry.status == 0, "stderr: \(dry.stderr)")
        let checkpoint = RunFiles(out.path).checkpoint
        let original = try Data(contentsOf: checkpoint)
        func edited(_ change: (inout [String: Any]) -> Void) throws -> Data {
            let (entries, metadata) = try Safetensors.decode(original, source: "test")
            var state = try JSONSerialization.jsonObject(with: Data(metadata[Checkpoint.stateKey]!.utf8)) as! [String: Any]
            change(&state)
            var changed = metadata
            changed[Checkpoint.stateKey] = String(data: try JSONSerialization.data(withJSONObject: state), encoding: .utf8)!
            return try Safetensors.encode(entries.values.sorted { $0.name < $1.name }, metadata: changed)
        }
        try edited { $0["batchSize"] = 0 }.write(to: checkpoint)
        let resumed = try Executables.run("atelier", ["train", "--model", "dcgan", "--continue", "--device", "cpu", "--out", out.path])
        #expect(resumed.status != 0 && resumed.stderr.contains("is damaged: its training state says batch size 0"), "\(resumed.stderr)")
        try edited { state in
            var model = state["model"] as! [String: Any]
            model["kind"] = "cdcgan"
            state["model"] = model
        }.write(to: checkpoint)
        let sampled = try Executables.run("atelier", ["sample", "--checkpoint", checkpoint.path, "--out", out.path + "/s.png"])
        #expect(sampled.status != 0 && sampled.stderr.contains("with 0 classes"), "\(sampled.stderr)")
    }

    /// A PNG of 69 bytes whose header claims 9000 x 9000 RGB pixels: refused
    /// from its size before 243 MB are allocated for its pixels.
    @Test("Picture headers that claim more pixels than the file could hold are refused before allocating")
    func impossibleClaims() throws {
        func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
            let typed = Array(type.utf8) + body
            var length = UInt32(body.count).bigEndian, crc = UInt32(truncatingIfNeeded: crc32(0, typed, UInt32(typed.count))).bigEndian
            return withUnsafeBytes(of: &length) { Array($0) } + typed + withUnsafeBytes(of: &crc) { Array($0) }
        }
        func png(width: UInt32, height: UInt32, colour: UInt8) -> Data {
            var w = width.bigEndian, h = height.bigEndian
            let header = withUnsafeBytes(of: &w) { Array($0) } + withUnsafeBytes(of: &h) { Array($0) } + [8, colour, 0, 0, 0]
            // A stored (uncompressed) zlib stream of 16 zero bytes.
            let idat: [UInt8] = [0x78, 0x01, 0x01, 16, 0, 0xEF, 0xFF] + [UInt8](repeating: 0, count: 16) + [0, 0x10, 0, 1]
            return Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + chunk("IDAT", idat) + chunk("IEND", []))
        }
        #expect { try PNG.decode(png(width: 9000, height: 9000, colour: 2), name: "claims.png") } throws: {
            "\($0)".contains("claims.png claims 9000x9000 pixels but holds only")
        }
        #expect { try PNG.decode(png(width: 100_000, height: 100_000, colour: 0), name: "huge.png") } throws: {
            "\($0)".contains("more than Atelier reads")
        }
        // A real picture of the same kind still reads.
        let small = PixelImage(width: 300, height: 200, channels: 3, pixels: [UInt8](repeating: 200, count: 300 * 200 * 3))
        let dir = try temporaryDirectory("claims")
        defer { try? FileManager.default.removeItem(at: dir) }
        try PNG.write(small, to: dir.appendingPathComponent("white.png").path)
        #expect(try PNG.read(dir.appendingPathComponent("white.png").path) == small)
    }

    @Test("A buffer larger than memory is an error that names its size, not an abort")
    func bufferBeyondMemory() throws {
        for backend: Backend in [CPUBackend(), ReferenceBackend()] {
            #expect { try backend.buffer(count: 1 << 40) } throws: {
                "\($0)".contains("cannot allocate 4398.0 GB for one buffer") && "\($0)".contains("lower --batch-size")
            }
            #expect { try backend.buffer(count: Int.max / 2) } throws: { $0 is OutOfMemoryError }
        }
    }

    @Test("--nz beyond 10000 and sample sheets beyond 1024 images are refused; folders are written a batch at a time",
          .enabled(if: fashionMNIST, "needs dataset-fashion-mnist"))
    func sampleAndNoiseLimits() throws {
        let out = try temporaryDirectory("sample-limits")
        defer { try? FileManager.default.removeItem(at: out) }
        let nz = try Executables.run("atelier", ["train", "--model", "gan", "--nz", "100000000", "--device", "cpu", "--out", out.path + "/nz"])
        #expect(nz.status != 0 && nz.stderr.contains("--nz must lie in 1...10000"), "\(nz.stderr)")
        let dry = try Executables.run("atelier", ["train", "--model", "dcgan", "--dry-run", "--limit-images", "64", "--device", "cpu",
                                                  "--out", out.path + "/run"])
        #expect(dry.status == 0, "stderr: \(dry.stderr)")
        let checkpoint = RunFiles(out.path + "/run").checkpoint.path
        let sheet = try Executables.run("atelier", ["sample", "--checkpoint", checkpoint, "--count", "100000", "--out", out.path + "/s.png"])
        #expect(sheet.status != 0 && sheet.stderr.contains("a sheet holds at most 1024 images"), "\(sheet.stderr)")
        let folder = try Executables.run("atelier", ["sample", "--checkpoint", checkpoint, "--count", "300", "--device", "cpu",
                                                     "--out", out.path + "/each"])
        #expect(folder.status == 0, "stderr: \(folder.stderr)")
        let written = try FileManager.default.contentsOfDirectory(atPath: out.path + "/each").filter { $0.hasSuffix(".png") }
        #expect(written.count == 300)
    }

    /// A run killed mid-write leaves the temporary file its write renames;
    /// they were never removed. And the state's JSON keys came in hash
    /// order, so two identical runs wrote different checkpoint bytes.
    @Test("A run's start removes the temporary files a killed run left; identical runs write identical checkpoints",
          .enabled(if: fashionMNIST, "needs dataset-fashion-mnist"))
    func leftoversAndReproducibleCheckpoints() throws {
        let out = try temporaryDirectory("leftovers")
        defer { try? FileManager.default.removeItem(at: out) }
        let first = out.appendingPathComponent("a").path, second = out.appendingPathComponent("b").path
        for folder in [first, second] {
            let dry = try Executables.run("atelier", ["train", "--model", "dcgan", "--dry-run", "--limit-images", "64", "--device", "cpu",
                                                      "--out", folder])
            #expect(dry.status == 0, "stderr: \(dry.stderr)")
        }
        #expect(try Data(contentsOf: RunFiles(first).checkpoint) == Data(contentsOf: RunFiles(second).checkpoint),
                "two identical dry runs wrote different checkpoints")
        let files = RunFiles(first)
        let stale = [files.directory.appendingPathComponent(".checkpoint.safetensors.4242.tmp"),
                     files.directory.appendingPathComponent(".dat.nosyncAb12Cd"),
                     files.samples.appendingPathComponent("epoch-002.png.tmp-4242"),
                     files.directory.appendingPathComponent("loss.png.tmp-77"),
                     files.samples.appendingPathComponent(".epoch-003.png.4242.tmp")]
        for url in stale { try Data([1, 2, 3]).write(to: url) }
        let kept = files.directory.appendingPathComponent("notes.tmp"), hidden = files.directory.appendingPathComponent(".notes.tmp")
        try Data([1]).write(to: kept)
        try Data([1]).write(to: hidden)
        let resumed = try Executables.run("atelier", ["train", "--model", "dcgan", "--continue", "--epochs", "1", "--limit-images", "64",
                                                      "--device", "cpu", "--out", first])
        #expect(resumed.status == 0, "stderr: \(resumed.stderr)")
        for url in stale { #expect(!FileManager.default.fileExists(atPath: url.path), "\(url.lastPathComponent) is still there") }
        #expect(FileManager.default.fileExists(atPath: kept.path) && FileManager.default.fileExists(atPath: hidden.path),
                "a file of the user's was removed")
        #expect(resumed.stdout.contains("removed 5 temporary files a stopped run left"), "\(resumed.stdout)")
        #expect(TemporaryFile.isLeftover(TemporaryFile.beside(files.checkpoint).lastPathComponent))
    }

    /// Negative numbers were taken for options ("Missing value"); an
    /// unusable --out or a folder given as a checkpoint gave NSError's
    /// "Code=512" text; --out "" trained into the current folder.
    @Test("Messages name the problem: negative counts, an --out that cannot be written, a folder as a checkpoint")
    func messages() throws {
        let dir = try temporaryDirectory("messages")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("a-file")
        try Data([1]).write(to: file)
        let cases: [([String], String)] = [
            (["train", "--model", "gan", "--batch-size", "-1"], "--batch-size must be at least 1"),
            (["sample", "--checkpoint", file.path, "--count", "-5"], "--count must be at least 1"),
            (["train", "--model", "gan", "--batch-size", "--epochs", "3"], "The value '--epochs' is invalid for '--batch-size"),
            (["train", "--model", "gan", "--device", "cpu", "--out", file.path + "/run"], "\(file.path) is a file, not a folder; choose another --out"),
            (["train", "--model", "gan", "--device", "cpu", "--out", ""], "--out is empty"),
            (["sample", "--checkpoint", dir.path, "--out", dir.path + "/s.png"], "\(dir.path) is a folder, not a checkpoint"),
        ]
        for (arguments, expected) in cases {
            let result = try Executables.run("atelier", arguments)
            #expect(result.status != 0 && result.stderr.contains(expected) && !result.stderr.contains("Code="),
                    "atelier \(arguments.joined(separator: " ")): \(result.stderr)")
        }
        // A usage error shows the usage of the command the user ran, not atelier's.
        let usage = try Executables.run("atelier", ["sample", "--checkpoint", file.path, "--count", "0"])
        #expect(usage.stderr.contains("Usage: atelier sample <options>") && usage.stderr.contains("atelier sample --help"), "\(usage.stderr)")
    }

    @Test("A checkpoint with NaN weights is refused by tensor name, in sample and --continue",
          .enabled(if: fashionMNIST, "needs dataset-fashion-mnist"))
    func nanWeights() throws {
        let out = try temporaryDirectory("nan-weights")
        defer { try? FileManager.default.removeItem(at: out) }
        let dry = try Executables.run("atelier", ["train", "--model", "dcgan", "--dry-run", "--limit-images", "64", "--device", "cpu",
                                                  "--out", out.path])
        #expect(dry.status == 0, "stderr: \(dry.stderr)")
        let checkpoint = RunFiles(out.path).checkpoint
        let (entries, metadata) = try Safetensors.decode(try Data(contentsOf: checkpoint), source: "test")
        var poisoned = entries.values.sorted { $0.name < $1.name }
        let index = poisoned.firstIndex { $0.name == "generator.layers.0.weight" }!
        poisoned[index].values[7] = .nan
        try Safetensors.encode(poisoned, metadata: metadata).write(to: checkpoint)
        let sampled = try Executables.run("atelier", ["sample", "--checkpoint", checkpoint.path, "--out", out.path + "/s.png"])
        #expect(sampled.status != 0 && sampled.stderr.contains("generator.layers.0.weight holds nan values"), "\(sampled.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.path + "/s.png"))
        let resumed = try Executables.run("atelier", ["train", "--model", "dcgan", "--continue", "--epochs", "2", "--limit-images", "64",
                                                      "--device", "cpu", "--out", out.path])
        #expect(resumed.status != 0 && resumed.stderr.contains("use an earlier checkpoint"), "\(resumed.stderr)")
    }

    @Test("Pictures beside class folders are refused by name instead of left out")
    func loosePictures() throws {
        let root = try temporaryDirectory("loose-pictures")
        defer { try? FileManager.default.removeItem(at: root) }
        let picture = PixelImage(width: 8, height: 8, channels: 1, pixels: [UInt8](repeating: 90, count: 64))
        for folder in ["coats", "shirts"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
            try PNG.write(picture, to: root.appendingPathComponent(folder + "/a.png").path)
        }
        try PNG.write(picture, to: root.appendingPathComponent("stray.png").path)
        #expect { try ImageFolder.listing(root.path) } throws: {
            "\($0)".contains("(coats, shirts) and 1 picture beside them (stray.png)")
        }
        try FileManager.default.removeItem(at: root.appendingPathComponent("stray.png"))
        try FileManager.default.createDirectory(at: root.appendingPathComponent("empty"), withIntermediateDirectories: true)
        let (files, classes) = try ImageFolder.listing(root.path)
        #expect(files.count == 2 && classes == ["coats", "shirts"], "an empty folder is no class: \(classes)")
    }

    /// PoCL without a writable cache folder offers no device; the message
    /// said to install an OpenCL driver, which is installed.
    @Test("An unwritable POCL_CACHE_DIR is named as the problem, not a missing driver",
          .enabled(if: FileManager.default.fileExists(atPath: "/etc/OpenCL/vendors/pocl.icd"), "needs PoCL"))
    func poclCache() throws {
        let dir = try temporaryDirectory("pocl-cache")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("a-file")
        try Data([1]).write(to: file)
        let result = try Executables.run("atelier", ["devices"], environment: ["POCL_CACHE_DIR": file.path + "/cache"])
        let text = result.stdout + result.stderr
        #expect(text.contains("cannot write its kernel cache in \(file.path)/cache (POCL_CACHE_DIR)") && !text.contains("Install an OpenCL driver"),
                "\(text)")
    }

    /// CycleGAN's line is about 170 characters: on a narrower terminal it
    /// wrapped, and each redraw left a stale copy.
    @Test("The progress line fits the terminal, keeping the position and the ETA")
    func progressLine() {
        let values = ["Loss_G 6.7451", "Loss_D 0.6364", "G_A 0.5362", "G_B 0.5346", "cycle_A 2.0901", "cycle_B 1.7087",
                      "idt_A 0.8491", "idt_B 1.0264", "D_A 0.4171", "D_B 0.2193"]
        let full = ProgressLine.fit(head: "[1/6][1000/1500]", values: values, tail: "5 samples/s, ETA 28m49s", width: nil)
        #expect(full.contains("D_B 0.2193 | 5 samples/s, ETA 28m49s"))
        for width in [200, 120, 80, 60, 40, 30, 20, 8] {
            let line = ProgressLine.fit(head: "[1/6][1000/1500]", values: values, tail: "5 samples/s, ETA 28m49s", width: width)
            #expect(line.count <= width - 1, "width \(width): \(line.count) characters: \(line)")
            #expect(width < 30 || (line.hasPrefix("[1/6][1000/1500]") && line.hasSuffix("ETA 28m49s")), "width \(width): \(line)")
            #expect(width < 60 || line.contains("Loss_G 6.7451"), "width \(width): \(line)")
        }
        #expect(ProgressLine.duration(.infinity) == "?" && ProgressLine.duration(3725) == "1h02m" && ProgressLine.duration(1e30) == "?")
    }

    @Test("pytorch/examples' option names are accepted as aliases", .enabled(if: fashionMNIST, "needs dataset-fashion-mnist"))
    func pytorchAliases() throws {
        let out = try temporaryDirectory("aliases")
        defer { try? FileManager.default.removeItem(at: out) }
        let run = try Executables.run("atelier", ["train", "--model", "gan", "--batchSize", "32", "--niter", "1", "--manualSeed", "3",
                                                  "--imageSize", "28", "--outf", out.path, "--limit-images", "64", "--device", "cpu", "--dry-run"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let options = try JSONDecoder().decode(TrainingOptions.self, from: Data(contentsOf: RunFiles(out.path).options))
        #expect(options.batchSize == 32 && options.epochs == 1 && options.seed == 3 && options.out == out.path)
    }

    /// --continue once ignored every option but --epochs and --device
    /// without a word, and resumed on the defaults without options.json.
    @Test("--continue refuses options that differ from the run's, by name, and a run without its options.json",
          .enabled(if: fashionMNIST, "needs dataset-fashion-mnist"))
    func resumeOptions() throws {
        let out = try temporaryDirectory("resume-options")
        defer { try? FileManager.default.removeItem(at: out) }
        let dry = try Executables.run("atelier", ["train", "--model", "gan", "--limit-images", "64", "--dry-run", "--device", "cpu",
                                                  "--out", out.path])
        #expect(dry.status == 0, "stderr: \(dry.stderr)")
        let changed = try Executables.run("atelier", ["train", "--model", "gan", "--continue", "--lr", "0.001", "--batch-size", "16",
                                                      "--device", "cpu", "--out", out.path])
        #expect(changed.status != 0 && changed.stderr.contains("--batch-size 16 (the run's: 64), --lr 0.001 (the run's: 0.0002)")
                && changed.stderr.contains("Only --epochs, --device, --save-every, --keep-checkpoints, --eval-every and --eval-count may change"), "\(changed.stderr)")
        let same = try Executables.run("atelier", ["train", "--model", "gan", "--continue", "--epochs", "2", "--limit-images", "64",
                                                   "--device", "cpu", "--out", out.path])
        #expect(same.status == 0, "stderr: \(same.stderr)")
        try FileManager.default.removeItem(at: RunFiles(out.path).options)
        let lost = try Executables.run("atelier", ["train", "--model", "gan", "--continue", "--device", "cpu", "--out", out.path])
        #expect(lost.status != 0 && lost.stderr.contains("options.json is missing"), "\(lost.stderr)")
    }

    @Test("--save-every saves the checkpoint within epochs, by steps; its forms are checked",
          .enabled(if: fashionMNIST, "needs dataset-fashion-mnist"))
    func saveEvery() throws {
        #expect(SaveInterval(parsing: "500") == .steps(500) && SaveInterval(parsing: "10m") == .minutes(10))
        #expect(["0", "-3", "m", "1.5", "10s", "0m", "infm"].allSatisfy { SaveInterval(parsing: $0) == nil })
        let out = try temporaryDirectory("save-every")
        defer { try? FileManager.default.removeItem(at: out) }
        var options = TrainingOptions()
        options.model = .gan
        options.epochs = 1
        options.batchSize = 32
        options.limitImages = 320
        options.out = out.path
        options.device = "cpu"
        options.saveEvery = .steps(3)
        let run = try TrainingRun(options: options, resume: false, backend: CPUBackend()) { _ in }
        var seen: [Int: Int] = [:]  // step -> the checkpoint's step as the step is reported (the save follows)
        _ = try run.run(onStep: { p in
            seen[p.step] = (try? Checkpoint.read(RunFiles(out.path).checkpoint.path))?.state.step ?? 0
        }, shouldStop: { false })
        #expect(seen[3] == 0 && seen[4] == 3 && seen[6] == 3 && seen[7] == 6 && seen[10] == 9, "\(seen.sorted { $0.key < $1.key })")
        let bad = try Executables.run("atelier", ["train", "--model", "gan", "--save-every", "10s", "--out", out.path + "-2"])
        #expect(bad.status != 0 && bad.stderr.contains("--save-every takes steps (e.g. 500) or minutes (e.g. 10m)"), "\(bad.stderr)")
    }

    @Test("--keep-checkpoints keeps the last N epochs' checkpoints; sample --epoch reads one",
          .enabled(if: fashionMNIST, "needs dataset-fashion-mnist"))
    func keptCheckpoints() throws {
        let out = try temporaryDirectory("kept-checkpoints")
        defer { try? FileManager.default.removeItem(at: out) }
        let run = try Executables.run("atelier", ["train", "--model", "dcgan", "--limit-images", "128", "--epochs", "3",
                                                  "--keep-checkpoints", "2", "--device", "cpu", "--out", out.path])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let files = RunFiles(out.path)
        #expect(files.keptEpochs() == [2, 3])
        #expect(try Checkpoint.read(files.epochCheckpoint(2).path).state.epoch == 2)
        #expect(try Data(contentsOf: files.epochCheckpoint(3)) == Data(contentsOf: files.checkpoint))
        let sheet = out.appendingPathComponent("epoch2.png").path
        let sampled = try Executables.run("atelier", ["sample", "--checkpoint", files.checkpoint.path, "--epoch", "2", "--device", "cpu",
                                                      "--out", sheet])
        #expect(sampled.status == 0 && FileManager.default.fileExists(atPath: sheet), "stderr: \(sampled.stderr)")
        let missing = try Executables.run("atelier", ["sample", "--checkpoint", files.checkpoint.path, "--epoch", "1", "--out", sheet])
        #expect(missing.status != 0 && missing.stderr.contains("kept epochs: 2, 3"), "\(missing.stderr)")
        let bad = try Executables.run("atelier", ["train", "--model", "gan", "--keep-checkpoints", "0", "--out", out.path + "-2"])
        #expect(bad.status != 0 && bad.stderr.contains("--keep-checkpoints takes a count"), "\(bad.stderr)")
    }

    /// Hard line breaks inside the overview came out, re-wrapped, as ragged half-lines.
    @Test("atelier-bench --help wraps its overview cleanly")
    func benchHelp() throws {
        let help = try Executables.run("atelier-bench", ["--help"]).stdout
        let overview = help.components(separatedBy: "USAGE:")[0].components(separatedBy: "\n\n").dropFirst()
        #expect(!overview.isEmpty, "\(help)")
        for paragraph in overview {
            let lines = paragraph.split(separator: "\n").dropLast()
            #expect(lines.allSatisfy { $0.count >= 50 }, "ragged lines in:\n\(paragraph)")
        }
    }

    /// `--model dcgan --lr 10` once ended "done" with Loss_D 0 and Loss_G near 1e6 at every step, without a word.
    @Test("A loss that stays above 10000 for 50 steps is reported once as divergence, with what to try")
    func divergence() {
        func stats(_ d: Float, _ g: Float) -> StepStatistics {
            StepStatistics(names: ["Loss_D", "Loss_G", "D(x)"], kinds: [.total, .total, .score], values: [d, g, 1e9])
        }
        var watch = DivergenceWatch()
        for _ in 0..<200 { #expect(watch.observe(stats(0.7, 1.3)) == nil, "a healthy run, and a huge score, are no divergence") }
        for _ in 0..<49 { #expect(watch.observe(stats(0, 876_040)) == nil) }
        #expect(watch.observe(stats(0.5, 2)) == nil, "one sane step starts the count again")
        for _ in 0..<49 { #expect(watch.observe(stats(0, 876_040)) == nil) }
        let warning = watch.observe(stats(0, 876_040))
        #expect(warning?.contains("Loss_G has stayed above 10000 for 50 steps") == true && warning?.contains("lower --lr") == true,
                "\(warning ?? "no warning")")
        #expect(watch.observe(stats(0, 876_040)) == nil, "said once")
    }
}
