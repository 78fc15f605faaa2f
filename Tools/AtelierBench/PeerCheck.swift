import Atelier
import Foundation

/// The numerics check against ../shared/peers/torch_i2i.py: its `export`
/// folder holds canonical weights, the inputs of three steps and PyTorch's
/// figures (losses of every term, step-0 gradient norms per network). The
/// same three steps run here (dropout off, as the export) and each figure
/// is compared with the bounds the peer's README documents.
enum PeerCheck {
    static func run(folder: String, backend: Backend) throws -> String {
        let files = try FileManager.default.contentsOfDirectory(atPath: folder)
        guard let expectedName = files.first(where: { $0.hasPrefix("pix2pix_") && $0.hasSuffix("_expected.json") }) else {
            throw NumpyFiles.Failure(description: "\(folder) holds no pix2pix_*_expected.json: write it with `python torch_i2i.py export \(folder) --model pix2pix`")
        }
        let stem = String(expectedName.dropLast("_expected.json".count))
        let path = { (suffix: String) in (folder as NSString).appendingPathComponent(stem + suffix) }
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("_expected.json")))) as! [String: Any]
        let size = expected["size"] as! Int, batch = expected["batch"] as! Int
        let norm = TranslationSettings.Norm(rawValue: expected["norm"] as! String)!
        let settings = TranslationSettings(inputChannels: expected["in_channels"] as! Int, norm: norm, dropout: 0)
        let config = ModelConfig(kind: .pix2pix, imageChannels: expected["out_channels"] as! Int, imageSize: size, translation: settings)
        var rng = RandomGenerator(seed: 0)
        let model = try Pix2PixModel(config: config, rng: &rng)
        let trainer = try Trainer(model: model, backend: backend)
        let weights = try NumpyFiles.npz(path("_params.npz"))
        for (name, p) in model.namedParameters where p.trainable {
            guard let w = weights[name], w.values.count == p.shape.count else {
                throw NumpyFiles.Failure(description: "the export has no \(name) of \(p.shape): it was written for another network")
            }
            try backend.write(w.values, to: try p.bound())
        }
        let a = try NumpyFiles.npy(path("_check_A.npy")), b = try NumpyFiles.npy(path("_check_B.npy"))
        let perStepA = a.values.count / a.shape[0], perStepB = b.values.count / b.shape[0]
        let terms = expected["terms"] as! [String: [Double]]
        let losses = expected["losses"] as! [[Double]]
        // Atelier's statistic for each of PyTorch's names.
        let names = [("D", "Loss_D"), ("G", "Loss_G"), ("D_real", "D_real"), ("D_fake", "D_fake"), ("G_GAN", "G_GAN"), ("G_L1", "G_L1")]
        let bounds = [1e-5, 2e-5, 1e-3]  // per step: the README's spread x 3 beyond step 0
        var lines = ["pix2pix \(size) px, batch \(batch), \(norm) norm, dropout off, on \(backend.name): Atelier vs \(path("_expected.json"))"]
        var worst = [Double](repeating: 0, count: 3)
        var gradientLines: [String] = []
        var gradientWorst = 0.0
        for s in 0..<min(3, a.shape[0]) {
            let (n, feed) = try model.feed(input: Array(a.values[s * perStepA..<(s + 1) * perStepA]),
                                           target: Array(b.values[s * perStepB..<(s + 1) * perStepB]))
            try trainer.step(batch: n, feed: feed)
            let stats = try trainer.statistics()
            for (torchName, ours) in names {
                let reference = torchName == "D" ? losses[s][0] : torchName == "G" ? losses[s][1] : terms[torchName]![s]
                let value = Double(stats[ours]!)
                worst[s] = max(worst[s], abs(value - reference))
                lines.append(String(format: "  step %d %-7@ %12.6f  PyTorch %12.6f  |diff| %.2e", s, torchName, value, reference, abs(value - reference)))
            }
            if s == 0 {
                // The gradients stay in the groups' buffers after the Adam steps.
                let reference = expected["grad_norm_step0"] as! [String: Double]
                for name in ["D", "G"] {
                    let g = try backend.read(try trainer.group(name).gradients)
                    let norm = g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                    let relative = abs(norm - reference[name]!) / reference[name]!
                    gradientWorst = max(gradientWorst, relative)
                    gradientLines.append(String(format: "  step 0 gradient norm %@ %.6f  PyTorch %.6f  relative %.2e", name, norm, reference[name]!, relative))
                }
            }
        }
        lines += gradientLines
        let passed = zip(worst, bounds).allSatisfy { $0 <= $1 } && gradientWorst <= 1e-4
        lines.append(String(format: "largest |diff| per step: %.2e %.2e %.2e (bounds 1e-5, 2e-5, 1e-3); gradient norms %.2e (bound 1e-4): %@",
                            worst[0], worst[1], worst[2], gradientWorst, passed ? "PASS" : "FAIL"))
        return lines.joined(separator: "\n")
    }
}
