import Foundation
import Testing
@testable import AtelierModels
@testable import AtelierTraining

/// Weights in and out: `atelier export`, `train --init-from`, `sample
/// --weights`, and the safetensors dtypes PyTorch writes. The names are
/// checked against the state_dict keys of the PyTorch modules (spelled out
/// here from pytorch/examples' and junyanz's layer lists);
/// Tools/pytorch/check_export.py checks the same against PyTorch itself.
struct WeightsFileTests {
    static let fashionMNIST = RobustnessTests.fashionMNIST

    @Test("Every dtype PyTorch saves reads back as floats; F16 and BF16 round to nearest even")
    func dtypes() throws {
        let values: [Float] = [1.5, -2, 0.25, 65504]
        for dtype in Safetensors.DType.allCases {
            let stored: [Float] = dtype.isFloat ? values : dtype == .bool ? [1, 0, 1, 1] : dtype == .u8 ? [1, 2, 3, 100] : [1, -2, 3, 100]
            let data = try Safetensors.encode([.init(name: "t", shape: [2, 2], values: stored, dtype: dtype)], metadata: [:])
            let entry = try #require(try Safetensors.decode(data, source: "t").entries["t"])
            #expect(entry.dtype == dtype && entry.shape == [2, 2])
            #expect(entry.values == (dtype == .bf16 ? [1.5, -2, 0.25, 65536] : stored), "\(dtype)")
        }
        // Ties to even: 1 + 2^-8 is halfway between two bfloat16s and rounds down to 1; 1 + 3 * 2^-8 up.
        #expect(Safetensors.DType.bfloat16(1 + 0x1p-8) == 0x3F80 && Safetensors.DType.bfloat16(1 + 3 * 0x1p-8) == 0x3F82)
        #expect(Safetensors.DType.bfloat16(.nan) & 0x7FC0 == 0x7FC0)
        // A 0-dimensional I64 counter, as PyTorch saves num_batches_tracked.
        let counter = try Safetensors.encode([.init(name: "n", shape: [], values: [123], dtype: .i64)], metadata: [:])
        #expect(try Safetensors.decode(counter, source: "c").entries["n"]?.values == [123])
        var unknown = try Safetensors.encode([.init(name: "w", shape: [4], values: [1, 2, 3, 4], dtype: .u8)], metadata: [:])
        unknown = Data(String(decoding: unknown, as: UTF8.self).replacingOccurrences(of: "\"U8\"", with: "\"F8\"").utf8)
        #expect { try Safetensors.decode(unknown, source: "f8.safetensors") } throws: {
            "\($0)".contains("w is of type F8, which Atelier does not read")
        }
    }

    @Test("Names follow pytorch/examples' DCGAN, junyanz's networks, or a plain Sequential")
    func names() {
        let dcgan64 = PyTorchNames(ModelConfig(kind: .dcgan, imageSize: 64))
        #expect(dcgan64.pytorchName("generator.layers.1.weight")! == ("generator", "main.0.weight"))
        #expect(dcgan64.pytorchName("generator.layers.2.running_var")! == ("generator", "main.1.running_var"))
        #expect(dcgan64.pytorchName("discriminator.layers.0.weight")! == ("discriminator", "main.0.weight"))
        let dcgan28 = PyTorchNames(ModelConfig(kind: .dcgan))
        #expect(dcgan28.pytorchName("generator.layers.0.weight")! == ("generator", "0.weight"))
        #expect(dcgan28.pytorchName("optimizer.m.generator.layers.0.weight") == nil)
        let pix2pix = PyTorchNames(ModelConfig(kind: .pix2pix, imageChannels: 3, imageSize: 256, translation: .init(inputChannels: 1)))
        #expect(pix2pix.pytorchName("G.model.model.1.model.2.weight")! == ("G", "model.model.1.model.2.weight"))
        #expect(pix2pix.module("G").contains("UnetGenerator(1, 3, num_downs=8"))
        #expect(pix2pix.module("D").contains("NLayerDiscriminator(4,"))
        let cyclegan = PyTorchNames(ModelConfig(kind: .cyclegan, imageChannels: 3, imageSize: 64,
                                                translation: .init(inputChannels: 1, norm: .instance, residualBlocks: 6)))
        #expect(cyclegan.networks == ["G_A", "G_B", "D_A", "D_B"])
        #expect(cyclegan.module("G_B").contains("ResnetGenerator(3, 1,") && cyclegan.module("D_B").contains("NLayerDiscriminator(1,"))
        #expect(PyTorchNames.batchCounters(["main.1.weight", "main.1.running_mean"]) == ["main.1.num_batches_tracked"])
    }

    /// pytorch/examples' Generator at 64 px: ConvT, BN, ReLU three times, then ConvT, BN, ReLU, ConvT, Tanh.
    static let examplesGenerator: Set<String> = {
        var keys: Set<String> = []
        for conv in [0, 3, 6, 9, 12] { keys.insert("main.\(conv).weight") }
        for bn in [1, 4, 7, 10] {
            for p in ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"] { keys.insert("main.\(bn).\(p)") }
        }
        return keys
    }()

    @Test("export writes pytorch/examples' state_dict keys with I64 counters; sample --weights draws as the checkpoint",
          .enabled(if: fashionMNIST, "needs dataset-fashion-mnist"))
    func exportAndSample() throws {
        let out = try temporaryDirectory("export")
        defer { try? FileManager.default.removeItem(at: out) }
        let run = out.appendingPathComponent("run").path
        let dry = try Executables.run("atelier", ["train", "--model", "dcgan", "--image-size", "64", "--ngf", "8", "--ndf", "8",
                                                  "--dry-run", "--limit-images", "64", "--device", "cpu", "--out", run])
        #expect(dry.status == 0, "\(dry.stderr)")
        let checkpoint = RunFiles(run).checkpoint.path
        let file = out.appendingPathComponent("G.safetensors").path
        let exported = try Executables.run("atelier", ["export", "--checkpoint", checkpoint, "--out", file])
        #expect(exported.status == 0 && exported.stdout.contains("pytorch/examples dcgan Generator"), "\(exported.stdout)\(exported.stderr)")
        let (tensors, metadata) = try Safetensors.decode(try Data(contentsOf: URL(fileURLWithPath: file)), source: file)
        #expect(Set(tensors.keys) == Self.examplesGenerator)
        // The counter: the steps G was trained (64 images in batches of 64: one).
        let steps = try Checkpoint.read(checkpoint).state.groups.first { $0.spec.name == "generator" }?.adamStep
        #expect(steps == 1 && tensors["main.1.num_batches_tracked"]?.dtype == .i64 && tensors["main.1.num_batches_tracked"]?.values == [1])
        #expect(tensors["main.0.weight"]?.shape == [100, 64, 4, 4] && metadata["format"] == "pt")

        // The same images from the export as from the checkpoint; from a BF16 export, nearly.
        let fromCheckpoint = try Executables.run("atelier", ["sample", "--checkpoint", checkpoint, "--count", "8", "--out", out.path + "/c.png"])
        let fromWeights = try Executables.run("atelier", ["sample", "--weights", file, "--count", "8", "--out", out.path + "/w.png"])
        #expect(fromCheckpoint.status == 0 && fromWeights.status == 0, "\(fromWeights.stderr)")
        #expect(fromWeights.stdout.contains("ignored 4 BatchNorm num_batches_tracked counters"))
        #expect(try Data(contentsOf: out.appendingPathComponent("c.png")) == Data(contentsOf: out.appendingPathComponent("w.png")))

        // A plain file, as PyTorch's save_file writes (no metadata), needs the architecture named.
        let plain = out.appendingPathComponent("plain.safetensors").path
        let halves = tensors.values.map { Safetensors.Entry(name: $0.name, shape: $0.shape, values: $0.values, dtype: $0.dtype == .f32 ? .f16 : $0.dtype) }
        try Safetensors.encode(halves, metadata: [:]).write(to: URL(fileURLWithPath: plain))
        let unnamed = try Executables.run("atelier", ["sample", "--weights", plain, "--out", out.path + "/p.png"])
        #expect(unnamed.status != 0 && unnamed.stderr.contains("say which with --model"), "\(unnamed.stderr)")
        let named = try Executables.run("atelier", ["sample", "--weights", plain, "--model", "dcgan", "--image-size", "64", "--ngf", "8",
                                                    "--count", "8", "--out", out.path + "/p.png"])
        #expect(named.status == 0 && named.stdout.contains("converted F16 values to F32"), "\(named.stderr)")
        let wrongSize = try Executables.run("atelier", ["sample", "--weights", plain, "--model", "dcgan", "--image-size", "32", "--ngf", "8",
                                                        "--out", out.path + "/x.png"])
        #expect(wrongSize.status != 0 && wrongSize.stderr.contains("needs [100, 32, 4, 4]") && wrongSize.stderr.contains("another architecture"),
                "\(wrongSize.stderr)")
    }

    @Test("--init-from starts a run from exported weights, network by network, and refuses files that do not fit",
          .enabled(if: fashionMNIST, "needs dataset-fashion-mnist"))
    func initFrom() throws {
        let out = try temporaryDirectory("init-from")
        defer { try? FileManager.default.removeItem(at: out) }
        let first = out.appendingPathComponent("first").path
        let common = ["--model", "cdcgan", "--dry-run", "--limit-images", "64", "--device", "cpu"]
        #expect(try Executables.run("atelier", ["train"] + common + ["--seed", "1", "--out", first]).status == 0)
        let all = out.appendingPathComponent("all.safetensors").path, d = out.appendingPathComponent("D.safetensors").path
        #expect(try Executables.run("atelier", ["export", "--checkpoint", RunFiles(first).checkpoint.path, "--network", "all", "--out", all]).status == 0)
        #expect(try Executables.run("atelier", ["export", "--checkpoint", RunFiles(first).checkpoint.path, "--network", "discriminator",
                                                "--dtype", "f64", "--out", d]).status == 0)

        // A new run (another seed) from every network of the first; with a tiny rate its weights stay the first's.
        let second = out.appendingPathComponent("second").path
        let started = try Executables.run("atelier", ["train"] + common + ["--seed", "2", "--lr", "1e-30", "--init-from", all, "--out", second])
        #expect(started.status == 0, "\(started.stderr)")
        let saved = try JSONDecoder().decode(TrainingOptions.self, from: Data(contentsOf: RunFiles(second).options))
        #expect(saved.initFrom == [all], "options.json records where the weights came from")
        let log = try String(contentsOf: RunFiles(second).log, encoding: .utf8)
        #expect(log.contains("--init-from: generator: 12 tensors") && log.contains("--init-from: discriminator: 9 tensors"), "\(log)")
        let a = try Checkpoint.read(RunFiles(first).checkpoint.path).tensors, b = try Checkpoint.read(RunFiles(second).checkpoint.path).tensors
        for name in ["generator.layers.0.weight", "discriminator.layers.6.weight"] {
            let (x, y) = (try #require(a[name]).values, try #require(b[name]).values)
            #expect(zip(x, y).map { abs($0 - $1) }.max()! < 1e-6, "\(name)")
        }

        // NETWORK=PATH loads one network from a file of one; F64 is converted.
        let third = out.appendingPathComponent("third").path
        let one = try Executables.run("atelier", ["train"] + common + ["--init-from", "discriminator=" + d, "--out", third])
        #expect(one.status == 0 && one.stdout.contains("discriminator: 9 tensors") && one.stdout.contains("converted F64"), "\(one.stdout)\(one.stderr)")
        // The discriminator's file is not the generator's: refused with what is missing.
        let wrong = try Executables.run("atelier", ["train"] + common + ["--init-from", "generator=" + d, "--out", out.path + "/wrong"])
        #expect(wrong.status != 0 && wrong.stderr.contains("lacks 1.weight") && wrong.stderr.contains("of generator"), "\(wrong.stderr)")
        // A tensor the network lacks is refused by name, as PyTorch's strict load does.
        var tensors = try Safetensors.decode(try Data(contentsOf: URL(fileURLWithPath: d)), source: d).entries
        tensors["extra.weight"] = .init(name: "extra.weight", shape: [1], values: [0])
        let extra = out.appendingPathComponent("extra.safetensors").path
        try Safetensors.encode(Array(tensors.values), metadata: [:]).write(to: URL(fileURLWithPath: extra))
        let unexpected = try Executables.run("atelier", ["train"] + common + ["--init-from", "discriminator=" + extra, "--out", out.path + "/extra"])
        #expect(unexpected.status != 0 && unexpected.stderr.contains("holds extra.weight that discriminator"), "\(unexpected.stderr)")
        // Weights for a run that resumes come from its checkpoint.
        let resume = try Executables.run("atelier", ["train", "--model", "cdcgan", "--continue", "--init-from", all, "--out", first])
        #expect(resume.status != 0 && resume.stderr.contains("--continue resumes from the run's own checkpoint"), "\(resume.stderr)")
    }
}
