import Atelier
import Foundation

/// The numerics check against ../shared/peers/torch_i2i.py: its `export`
/// folder holds canonical weights, the inputs of three steps and PyTorch's
/// figures (losses of every term, step-0 gradient norms per network). The
/// same three steps run here (dropout off and image pools bypassed, as the
/// export) and each figure is compared with the bounds the peer's README
/// documents.
enum PeerCheck {
    /// Per step: 1e-5 at step 0, then about 3x the spread of PyTorch's own
    /// float32 runs (pix2pix 5e-6 and 3.3e-4, CycleGAN 3.2e-3 and 1.6e-2).
    static func bounds(_ kind: ModelKind) -> [Double] { kind == .pix2pix ? [1e-5, 2e-5, 1e-3] : [1e-5, 1e-2, 5e-2] }

    static func run(_ kind: ModelKind, folder: String, backend: Backend) throws -> String {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        guard let expectedName = files.sorted().first(where: { $0.hasPrefix("\(kind)_") && $0.hasSuffix("_expected.json") }) else {
            throw NumpyFiles.Failure(description: "\(folder) holds no \(kind)_*_expected.json: write it with `python torch_i2i.py export \(folder) --model \(kind)`")
        }
        let stem = String(expectedName.dropLast("_expected.json".count))
        let path = { (suffix: String) in (folder as NSString).appendingPathComponent(stem + suffix) }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("_expected.json"))))
        func value<T>(_ key: String) throws -> T {
            guard let v = (json as? [String: Any])?[key] as? T else {
                throw NumpyFiles.Failure(description: "\(path("_expected.json")) has no \(key) of type \(T.self): export it again with torch_i2i.py")
            }
            return v
        }
        let size: Int = try value("size"), batch: Int = try value("batch")
        guard let norm = TranslationSettings.Norm(rawValue: try value("norm")) else {
            throw NumpyFiles.Failure(description: "\(path("_expected.json")): unknown norm")
        }
        let net: String = try value("net")
        // "resnet_6blocks + patchgan(n_layers=3), norm=instance"
        let blocks = net.range(of: "resnet_").flatMap { Int(net[$0.upperBound...].prefix { $0.isNumber }) }
        let settings = TranslationSettings(inputChannels: try value("in_channels"), norm: norm, dropout: 0, poolSize: 0,
                                           residualBlocks: blocks ?? CycleGANModel.defaultBlocks(size: size))
        let config = ModelConfig(kind: kind, imageChannels: try value("out_channels"), imageSize: size,
                                 ganMode: kind == .pix2pix ? .vanilla : .lsgan, translation: settings)
        var rng = RandomGenerator(seed: 0)
        let model: TrainingModel = kind == .pix2pix ? try Pix2PixModel(config: config, rng: &rng) : try CycleGANModel(config: config, rng: &rng)
        let trainer = try Trainer(model: model, backend: backend)
        let weights = try NumpyFiles.npz(path("_params.npz"))
        for (name, p) in model.namedParameters where p.trainable {
            guard let w = weights[name], w.values.count == p.shape.count else {
                throw NumpyFiles.Failure(description: "the export has no \(name) of \(p.shape): it was written for another network")
            }
            try backend.write(w.values, to: try p.bound())
        }
        let a = try NumpyFiles.npy(path("_check_A.npy")), b = try NumpyFiles.npy(path("_check_B.npy"))
        let perStepA = a.values.count / max(a.shape.first ?? 1, 1), perStepB = b.values.count / max(b.shape.first ?? 1, 1)
        let terms: [String: [Double]] = try value("terms")
        let losses: [[Double]] = try value("losses")
        let referenceNorms: [String: Double] = try value("grad_norm_step0")
        guard a.shape.first == b.shape.first, let steps = a.shape.first, steps >= 1, losses.count >= min(3, steps),
              terms.values.allSatisfy({ $0.count >= min(3, steps) }) else {
            throw NumpyFiles.Failure(description: "\(folder): the inputs and the expected figures do not cover the same steps")
        }
        // Atelier's statistic for each of PyTorch's names.
        let names = [("D", "Loss_D"), ("G", "Loss_G")] + terms.keys.sorted().map { ($0, $0) }
        let bounds = Self.bounds(kind)
        var lines = ["\(kind) \(size) px, batch \(batch), \(norm) norm, dropout and pools off, on \(backend.name): Atelier vs \(path("_expected.json"))"]
        var worst = [Double](repeating: 0, count: 3)
        var gradientLines: [String] = []
        var gradientWorst = 0.0
        for s in 0..<min(3, steps) {
            let input = Array(a.values[s * perStepA..<(s + 1) * perStepA]), target = Array(b.values[s * perStepB..<(s + 1) * perStepB])
            var unused = RandomGenerator(seed: 0)
            let (n, feed) = try (model as? Pix2PixModel)?.feed(input: input, target: target)
                ?? (model as! CycleGANModel).feed(a: input, b: target, random: &unused)
            try trainer.step(batch: n, feed: feed)
            let stats = try trainer.statistics()
            for (torchName, ours) in names {
                guard let figures = torchName == "D" || torchName == "G" ? losses.map({ $0[torchName == "D" ? 0 : 1] }) : terms[torchName],
                      let value = stats[ours] else {
                    throw NumpyFiles.Failure(description: "no figure for \(torchName) on both sides")
                }
                let reference = figures[s]
                worst[s] = max(worst[s], abs(Double(value) - reference))
                lines.append(String(format: "  step %d %-7@ %12.6f  PyTorch %12.6f  |diff| %.2e", s, torchName, value, reference, abs(Double(value) - reference)))
            }
            if s == 0 {
                // The gradients stay in the groups' buffers after the Adam steps.
                for network in model.networks {
                    guard let reference = referenceNorms[network.name] else { continue }
                    var sum = 0.0
                    for p in network.module.parameters where p.trainable {
                        guard let group = trainer.groups.values.first(where: { $0.parameters.contains { $0 === p } }) else { continue }
                        sum += try backend.read(try group.gradient(of: p)).reduce(0.0) { $0 + Double($1) * Double($1) }
                    }
                    let relative = abs(sum.squareRoot() - reference) / reference
                    gradientWorst = max(gradientWorst, relative)
                    gradientLines.append(String(format: "  step 0 gradient norm %@ %.6f  PyTorch %.6f  relative %.2e", network.name, sum.squareRoot(), reference, relative))
                }
            }
        }
        lines += gradientLines
        let passed = zip(worst, bounds).allSatisfy { $0 <= $1 } && gradientWorst <= 1e-4
        lines.append(String(format: "largest |diff| per step: %.2e %.2e %.2e (bounds %@); gradient norms %.2e (bound 1e-4): %@",
                            worst[0], worst[1], worst[2], bounds.map { String(format: "%.0e", $0) }.joined(separator: ", "),
                            gradientWorst, passed ? "PASS" : "FAIL"))
        return lines.joined(separator: "\n")
    }
}
