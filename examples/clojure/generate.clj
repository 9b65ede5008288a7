;; bloom4j from Clojure: streams a continuation on the demo checkpoint (random weights) token by token.
;; Usage: java --enable-native-access=ALL-UNNAMED -cp <classpath> clojure.main generate.clj [demo dir]
(import '(dev.bloom4j BloomModel GenerationConfig Token)
        '(dev.bloom4j.checkpoint DemoCheckpoint)
        '(java.nio.file Path))

(let [demo   (DemoCheckpoint/ensure (Path/of (or (first *command-line-args*) "target/demo")
                                             (make-array String 0)))
      config (.maxTokens (GenerationConfig/greedy) 12)
      text   (with-open [model   (BloomModel/load demo)
                         session (.newSession model)
                         ;; Closing the stream (with-open does) cancels a generation that is still running.
                         tokens  (.stream session "The capital of France is" config)]
               (apply str (for [^Token token (iterator-seq (.iterator tokens))]
                            (do (print (str "[" (.id token) "]" (.text token)))
                                (flush)
                                (.text token)))))]
  (println)
  (println (str "generated: '" text "'"))
  (when (empty? text)
    (binding [*out* *err*] (println "clojure example: no text was generated"))
    (System/exit 1)))
